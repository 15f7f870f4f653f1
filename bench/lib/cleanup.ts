/**
 * Cleanup that runs whatever happens: normal end, a failed case, Ctrl-C
 * (SIGINT), SIGTERM or SIGHUP. Every resource the benchmark creates (sshd
 * processes, temp dirs, peer processes, the server child, its lab) registers
 * an undo here when it is created; undos run last-in first-out, once.
 */
import type { ChildProcess } from 'node:child_process';

type Undo = { what: string; fn: () => Promise<void> | void };
const undos: Undo[] = [];
const children = new Set<ChildProcess>();
let running: Promise<void> | undefined;

/** Register an undo; returns a function that runs it now (and unregisters it). */
export function onCleanup(what: string, fn: () => Promise<void> | void): () => Promise<void> {
  const u: Undo = { what, fn };
  undos.push(u);
  return async () => {
    const i = undos.indexOf(u);
    if (i < 0) return;
    undos.splice(i, 1);
    await fn();
  };
}

/** A child started in its own process group: killed with its whole tree on interrupt. */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export function killTree(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // its process group (spawned detached)
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

export function cleanupAll(log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<void> {
  running ??= (async () => {
    for (const c of children) killTree(c, 'SIGTERM');
    while (undos.length) {
      const u = undos.pop()!;
      try {
        await u.fn();
      } catch (e) {
        log(`bench: cleanup "${u.what}" failed: ${(e as Error).message}`);
      }
    }
    for (const c of children) killTree(c, 'SIGKILL');
  })();
  return running;
}

let interruptedBy: NodeJS.Signals | undefined;
/** The signal that interrupted the run, if any: nothing measured after it is written anywhere. */
export const interrupted = () => interruptedBy;

let installed = false;
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (interruptedBy) return void process.stderr.write(`bench: still cleaning up…\n`);
      interruptedBy = sig;
      process.stderr.write(`\nbench: ${sig}: cleaning up (sshd processes, temp dirs, server, lab)…\n`);
      cleanupAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    });
  }
}
