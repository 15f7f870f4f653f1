/**
 * Local transport: run a manifest script on the machine running Drillbook
 * (drill probes declared `from="local"`). Same contract as SSH: the script
 * goes to bash on a file descriptor, its stdin is /dev/null, it runs in
 * its own process group, and cancel stops that whole group.
 */
import { spawn } from 'node:child_process';
import { projectRoot } from '../../src/runbook/topology.ts';
import type { InventoryHost } from '../inventory.ts';
import type { ExecIO, ExecOutcome, Transport } from './types.ts';

export const LOCAL_HOST: InventoryHost = { name: 'local', address: '127.0.0.1', port: 0, user: process.env.USER ?? 'root', vars: {} };

export class LocalTransport implements Transport {
  constructor(private readonly killGraceMs = 3000) {}

  run(_host: InventoryHost, script: string, io: ExecIO): Promise<ExecOutcome> {
    if (io.signal.aborted) return Promise.resolve({ kind: 'cancelled', remoteStopped: true });
    return new Promise((resolve) => {
      // As over SSH: the script arrives on stdin, is handed to bash on a here-string fd, and reads EOF.
      // In the project's root, so a step on this machine can call `npx drillbook` (e.g. `lab crash`).
      const child = spawn('/bin/bash', ['--noprofile', '--norc', '-c', 'exec /bin/bash --noprofile --norc /dev/fd/3 3<<<"$(cat)" </dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true, cwd: projectRoot() });
      let cancelled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        cancelled = true;
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          /* already gone */
        }
        killTimer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, this.killGraceMs);
      };
      io.signal.addEventListener('abort', onAbort, { once: true });
      child.stdout!.on('data', (d: Buffer) => io.onStdout(d));
      child.stderr!.on('data', (d: Buffer) => io.onStderr(d));
      child.stdin!.on('error', () => {});
      child.stdin!.end(script + '\n');
      child.on('error', (e) => resolve({ kind: 'disconnected', message: `cannot run bash here: ${e.message}` }));
      child.on('close', (code, signal) => {
        io.signal.removeEventListener('abort', onAbort);
        clearTimeout(killTimer);
        let groupGone = true;
        try {
          process.kill(-child.pid!, 0);
          groupGone = false;
        } catch {
          /* no such process group: good */
        }
        if (cancelled) return resolve({ kind: 'cancelled', remoteStopped: groupGone });
        if (code !== null) return resolve({ kind: 'exit', code });
        resolve({ kind: 'signal', signal: signal ?? 'unknown' });
      });
    });
  }

  async close(): Promise<void> {}
}

const sharedLocal = new LocalTransport();

/** The transport that reaches `host`: this machine for LOCAL_HOST, else the inventory's (SSH) transport. */
export function transportFor(host: InventoryHost, inventoryTransport: Transport): Transport {
  return host === LOCAL_HOST ? sharedLocal : inventoryTransport;
}
