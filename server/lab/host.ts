/** What the local lab needs from the machine it runs on, and how it runs commands there. */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DrillbookError } from '../../src/runbook/errors.ts';

export class LabError extends DrillbookError {
  constructor(message: string, where?: string, hint?: string) {
    super('lab', message, { where, hint });
  }
}

/** Run a command; resolve stdout, reject with a LabError naming the command and its stderr. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; allowFail?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      if (err && !opts.allowFail) {
        reject(new LabError(`${cmd} ${args.join(' ')} failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' | ')}`, 'lab'));
        return;
      }
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const REQUIRED = [
  { cmd: 'systemd-nspawn', pkg: 'systemd-container' },
  { cmd: 'debootstrap', pkg: 'debootstrap' },
  { cmd: 'apt-ftparchive', pkg: 'apt-utils' },
  { cmd: 'ip', pkg: 'iproute2' },
  { cmd: 'ssh-keygen', pkg: 'openssh-client' },
  { cmd: 'ssh', pkg: 'openssh-client' },
];

/** Linux, root, and the tools; a plain message naming what is missing and how to install it. */
export function checkRequirements(): void {
  if (process.platform !== 'linux') throw new LabError(`the local lab needs Linux (this is ${process.platform})`, 'lab up', 'use the Vagrant lab: drillbook lab up --provider vagrant');
  if (process.getuid?.() !== 0) throw new LabError('the local lab needs root: it creates a bridge, mounts overlays and boots systemd-nspawn containers', 'lab up', 'run it as root (sudo -E npx drillbook lab up)');
  const missing = REQUIRED.filter((r) => !which(r.cmd));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))];
    throw new LabError(`missing ${missing.map((m) => m.cmd).join(', ')}`, 'lab up', `install: apt-get install -y --no-install-recommends ${pkgs.join(' ')}`);
  }
}

export interface Mirrors {
  mirror: string;
  security?: string;
}

/**
 * The Debian mirror, from the host's own apt configuration (deb822
 * .sources and one-line .list files). DRILLBOOK_DEBIAN_MIRROR and
 * DRILLBOOK_DEBIAN_SECURITY_MIRROR override it.
 */
export function hostMirrors(etc = '/etc/apt'): Mirrors {
  const entries: { uri: string; suites: string[] }[] = [];
  const files = [path.join(etc, 'sources.list')];
  const dir = path.join(etc, 'sources.list.d');
  if (existsSync(dir)) files.push(...readdirSync(dir).filter((f) => f.endsWith('.list') || f.endsWith('.sources')).map((f) => path.join(dir, f)));
  for (const file of files.filter(existsSync)) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const block of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(block)?.[1].trim().split(/\s+/) ?? [];
        if (!field('Types').includes('deb') || /^Enabled:\s*no/im.test(block)) continue;
        for (const uri of field('URIs')) entries.push({ uri, suites: field('Suites') });
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m) entries.push({ uri: m[1], suites: [m[2]] });
      }
    }
  }
  const strip = (u: string) => u.replace(/\/+$/, '');
  const main = entries.find((e) => e.suites.includes('bookworm')) ?? entries.find((e) => /\/debian$/.test(strip(e.uri)) && !e.suites.some((s) => s.endsWith('-security')));
  const security = entries.find((e) => e.suites.includes('bookworm-security')) ?? entries.find((e) => e.suites.some((s) => s.endsWith('-security')));
  const mirror = process.env.DRILLBOOK_DEBIAN_MIRROR ?? (main && strip(main.uri));
  if (!mirror) throw new LabError('found no Debian mirror in the host apt configuration', '/etc/apt/sources.list*', 'set DRILLBOOK_DEBIAN_MIRROR to the Debian mirror URL this machine may use');
  return { mirror, security: process.env.DRILLBOOK_DEBIAN_SECURITY_MIRROR ?? (security && strip(security.uri)) };
}

/** Where built images are cached: DRILLBOOK_CACHE_DIR, else $XDG_CACHE_HOME/drillbook, else ~/.cache/drillbook. */
export function cacheDir(): string {
  return process.env.DRILLBOOK_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'drillbook');
}

export function isMountpoint(dir: string): boolean {
  try {
    execFileSync('mountpoint', ['-q', dir]);
    return true;
  } catch {
    return false;
  }
}
