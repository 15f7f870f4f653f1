/** Small statistics and formatting helpers for the benchmark tables. */

export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function min(xs: number[]): number {
  const s = xs.filter(Number.isFinite);
  return s.length ? Math.min(...s) : NaN;
}

export function max(xs: number[]): number {
  const s = xs.filter(Number.isFinite);
  return s.length ? Math.max(...s) : NaN;
}

export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export type Unit = 'ms' | 'bytes' | 'MiB/s' | '%';

export function fmt(x: number | undefined, unit: Unit): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  switch (unit) {
    case 'ms':
      if (x < 10) return `${x.toFixed(2)} ms`;
      if (x < 1000) return `${x.toFixed(0)} ms`;
      if (x < 60_000) return `${(x / 1000).toFixed(x < 10_000 ? 2 : 1)} s`;
      return `${Math.floor(x / 60_000)} min ${Math.round((x % 60_000) / 1000)} s`;
    case 'bytes':
      if (x < 1024) return `${Math.round(x)} B`;
      if (x < 1024 ** 2) return `${(x / 1024).toFixed(1)} KiB`;
      if (x < 1024 ** 3) return `${(x / 1024 ** 2).toFixed(1)} MiB`;
      return `${(x / 1024 ** 3).toFixed(2)} GiB`;
    case 'MiB/s':
      return `${x.toFixed(x < 10 ? 2 : 1)} MiB/s`;
    case '%':
      return `${x.toFixed(x < 10 ? 1 : 0)} %`;
  }
}

export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return '-';
  return x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`;
}

/** A plain-text table; the first row is the header. */
export function textTable(rows: string[][], align?: ('l' | 'r')[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? (c ?? '').padEnd(widths[i]) : (c ?? '').padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
