/**
 * Host key checking. Keys are recorded on first use for labs and must be
 * known in advance (inventory `hostKey` or known_hosts) for production.
 * The file uses OpenSSH's known_hosts line format.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type HostKeyPolicy = 'record-first-use' | 'strict';

export type HostKeyVerdict = { ok: true; recorded: boolean } | { ok: false; reason: 'mismatch' | 'unknown'; presented: string; expected?: string };

/** `ssh-ed25519 AAAA...` from a raw public key blob (type string + key data). */
export function formatKey(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  const type = blob.subarray(4, 4 + len).toString('latin1');
  return `${type} ${blob.toString('base64')}`;
}

export function hostPattern(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

export class KnownHosts {
  constructor(
    readonly file: string,
    readonly policy: HostKeyPolicy,
  ) {}

  private entries(pattern: string): string[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 3 && f[0].split(',').includes(pattern))
      .map((f) => `${f[1]} ${f[2]}`);
  }

  check(address: string, port: number, blob: Buffer, pinned?: string): HostKeyVerdict {
    const presented = formatKey(blob);
    if (pinned) {
      return pinned.trim().split(/\s+/).slice(0, 2).join(' ') === presented ? { ok: true, recorded: false } : { ok: false, reason: 'mismatch', presented, expected: pinned };
    }
    const pattern = hostPattern(address, port);
    const known = this.entries(pattern);
    const type = presented.split(' ')[0];
    const sameType = known.filter((k) => k.split(' ')[0] === type);
    if (sameType.includes(presented)) return { ok: true, recorded: false };
    if (sameType.length) return { ok: false, reason: 'mismatch', presented, expected: sameType[0] };
    if (this.policy === 'strict') return { ok: false, reason: 'unknown', presented };
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    appendFileSync(this.file, `${pattern} ${presented}\n`, { mode: 0o600 });
    return { ok: true, recorded: true };
  }
}
