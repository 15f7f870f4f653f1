/**
 * The peers and tools the benchmark needs. As root it installs the missing
 * Debian packages itself; otherwise it says exactly what is missing and the
 * cases that need it report the peer as not measured.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Tool {
  bin: string;
  pkg: string;
  why: string;
}

export const TOOLS = {
  sshd: { bin: '/usr/sbin/sshd', pkg: 'openssh-server', why: 'the loopback sshd hosts' },
  ssh: { bin: 'ssh', pkg: 'openssh-client', why: 'the plain ssh peer' },
  pssh: { bin: 'parallel-ssh', pkg: 'pssh', why: 'the parallel-ssh peer (fan-out)' },
  ansible: { bin: 'ansible', pkg: 'ansible', why: 'the Ansible ad-hoc peer' },
  unshare: { bin: 'unshare', pkg: 'util-linux', why: 'an isolated site build' },
} satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;

export function which(bin: string): string | undefined {
  if (bin.startsWith('/')) return existsSync(bin) ? bin : undefined;
  const r = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', bin], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const isRoot = () => process.getuid?.() === 0;

/** Install what is missing (as root) and return what is still missing, with the reason. */
export function ensureTools(names: ToolName[], log: (s: string) => void): Map<ToolName, string> {
  let missing = names.filter((n) => !which(TOOLS[n].bin));
  if (missing.length && isRoot()) {
    const pkgs = [...new Set(missing.map((n) => TOOLS[n].pkg))];
    log(`installing ${pkgs.join(' ')} (apt-get install -y -q --no-install-recommends)…`);
    const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    let r = install();
    if (r.status !== 0) {
      // A fresh machine has no package lists yet.
      execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
      r = install();
    }
    if (r.status !== 0) log(`apt-get install failed: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    missing = names.filter((n) => !which(TOOLS[n].bin));
  }
  const out = new Map<ToolName, string>();
  for (const n of missing) {
    const t = TOOLS[n];
    out.set(n, `${t.bin} is not installed (Debian package ${t.pkg}, for ${t.why}): ${isRoot() ? 'apt-get install failed' : 'run as root, or: sudo apt-get install --no-install-recommends ' + t.pkg}`);
  }
  return out;
}
