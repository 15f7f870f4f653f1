/** Terminal output: colours when stdout is a TTY (and NO_COLOR is unset), host-prefixed lines, tables. */
import type { Verdict } from '../runner/results.ts';

const useColor = () => !!process.stdout.isTTY && !process.env.NO_COLOR;
const wrap = (code: string) => (s: string) => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);
export const c = { bold: wrap('1'), dim: wrap('2'), red: wrap('31'), green: wrap('32'), yellow: wrap('33'), cyan: wrap('36') };

export function verdictText(v: Verdict): string {
  if (v === 'passed') return c.green('✔ passed');
  if (v === 'skipped') return c.dim('– skipped');
  if (v === 'cancelled' || v === 'timeout') return c.yellow(`■ ${v}`);
  return c.red(`✘ ${v}`);
}

/** Buffers partial lines per host and prints complete ones as `host │ line`. */
export class PrefixedOutput {
  private partial = new Map<string, string>();
  constructor(
    private readonly width: number,
    private readonly write: (s: string) => void = (s) => process.stdout.write(s),
  ) {}
  push(host: string, stream: 'stdout' | 'stderr', text: string): void {
    const key = `${host}\0${stream}`;
    const lines = ((this.partial.get(key) ?? '') + text).split('\n');
    this.partial.set(key, lines.pop() ?? '');
    for (const line of lines) this.line(host, stream, line);
  }
  flush(host?: string): void {
    for (const [key, rest] of this.partial) {
      const [h, stream] = key.split('\0');
      if (host && h !== host) continue;
      if (rest) this.line(h, stream as 'stdout' | 'stderr', rest);
      this.partial.delete(key);
    }
  }
  private line(host: string, stream: 'stdout' | 'stderr', line: string) {
    const prefix = c.cyan(host.padEnd(this.width)) + (stream === 'stderr' ? c.yellow(' ┃ ') : c.dim(' │ '));
    this.write(prefix + line.replace(/\r$/, '') + '\n');
  }
}

export function table(rows: string[][], header: string[]): string {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const fmt = (r: string[]) => r.map((cell, i) => cell + ' '.repeat(widths[i] - visible(cell))).join('  ').trimEnd();
  return [c.bold(fmt(header)), ...rows.map(fmt)].join('\n');
}
