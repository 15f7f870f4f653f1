/** Where Drillbook keeps its state: tokens, known hosts, lab inventories. */
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** DRILLBOOK_STATE_DIR, else $XDG_STATE_HOME/drillbook, else ~/.local/state/drillbook. */
export function stateDir(): string {
  const dir =
    process.env.DRILLBOOK_STATE_DIR ||
    path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'drillbook');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Write a file only its owner can read (tokens, keys), atomically: a reader never sees it half written. */
export function writePrivate(file: string, data: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
