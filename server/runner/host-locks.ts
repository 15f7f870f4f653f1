/**
 * No interleaved runs on a host: a run holds a lock on each of its target
 * hosts, across processes (the server and any CLI), as a directory in the
 * state dir naming its owner. A second run on a busy host is told who holds
 * it; a lock whose process is gone is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Refused } from '../../src/runbook/errors.ts';
import { stateDir } from '../state.ts';
import { processAlive } from '../process.ts';

interface Owner {
  pid: number;
  runId: string;
  item: string;
  since: string;
}


export function lockHosts(fingerprint: string, hosts: string[], owner: Omit<Owner, 'pid' | 'since'>): () => void {
  const dir = path.join(stateDir(), 'locks', fingerprint);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const held: string[] = [];
  const release = () => {
    for (const h of held) rmSync(path.join(dir, h), { recursive: true, force: true });
    held.length = 0;
  };
  for (const host of [...new Set(hosts)].sort()) {
    const lock = path.join(dir, host);
    for (let attempt = 0; ; attempt++) {
      try {
        mkdirSync(lock);
        writeFileSync(path.join(lock, 'owner.json'), JSON.stringify({ ...owner, pid: process.pid, since: new Date().toISOString() }));
        held.push(host);
        break;
      } catch {
        let current: Owner | undefined;
        try {
          current = JSON.parse(readFileSync(path.join(lock, 'owner.json'), 'utf8'));
        } catch {
          /* being written, or half removed */
        }
        if (current && !processAlive(current.pid)) {
          rmSync(lock, { recursive: true, force: true }); // its process died: the lock is stale
          continue;
        }
        if (!current && attempt < 20) continue;
        release();
        throw new Refused(
          `host ${host} is busy: ${current ? `${current.item} (run ${current.runId.slice(0, 8)}, pid ${current.pid}, since ${current.since})` : 'another run holds it'}`,
          host,
          'wait for that run to finish or cancel it; runs never interleave on a host',
        );
      }
    }
  }
  return release;
}
