/** What machine the figures come from, and how busy it was. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
}

export function machine(): Machine {
  let cpu = os.cpus()[0]?.model?.trim() ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    /* not Linux */
  }
  let osName = `${os.type()} ${os.release()}`;
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) osName = m[1];
  } catch {
    /* keep uname */
  }
  return { cpu, cores: os.cpus().length, memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10, kernel: os.release(), os: osName, node: process.version };
}

export function describeMachine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}`;
}

/** 1-minute load average and the number of other processes using CPU now. */
export function load(): number {
  return Math.round(os.loadavg()[0] * 100) / 100;
}

export function toolVersion(cmd: string, args: string[]): string | undefined {
  // Some tools (ssh -V) print their version on stderr.
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return undefined;
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || undefined;
}
