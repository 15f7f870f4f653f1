/** Progress of long lab phases: phase lines with elapsed time, and a bar when a total is known. */
export interface Progress {
  phase(name: string): void;
  bar(done: number, total: number, unit?: 'bytes' | 'items'): void;
  line(text: string): void;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Terminal progress. On a TTY the bar redraws in place; otherwise it prints every 10 %. */
export function terminalProgress(write: (s: string) => void = (s) => process.stderr.write(s), tty = !!process.stderr.isTTY): Progress {
  const start = Date.now();
  let lastPct = -1;
  let barShown = false;
  const stamp = () => `[${((Date.now() - start) / 1000).toFixed(1).padStart(6)} s]`;
  const endBar = () => {
    if (barShown && tty) write('\n');
    barShown = false;
  };
  return {
    phase(name) {
      endBar();
      lastPct = -1;
      write(`${stamp()} ${name}\n`);
    },
    bar(done, total, unit = 'items') {
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
      const label = unit === 'bytes' ? `${fmtBytes(done)} / ${fmtBytes(total)}` : `${done} / ${total}`;
      if (tty) {
        const width = 30;
        const fill = Math.round((pct / 100) * width);
        write(`\r${stamp()}   [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(pct).padStart(3)} % ${label}   `);
        barShown = true;
      } else if (Math.floor(pct / 10) > Math.floor(lastPct / 10) || (pct === 100 && lastPct !== 100)) {
        write(`${stamp()}   ${String(pct).padStart(3)} % ${label}\n`);
      }
      lastPct = pct;
    },
    line(text) {
      endBar();
      write(`${stamp()}   ${text}\n`);
    },
  };
}
