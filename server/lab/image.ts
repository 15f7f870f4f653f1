/**
 * The local lab's base image (a Debian 12 root filesystem) and its apt
 * repository holding the closure of labs/packages.txt. Built once, cached,
 * and rebuilt when the package list, the build script or the mirror changes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/runbook/topology.ts';
import { cacheDir, hostMirrors, LabError } from './host.ts';
import type { Progress } from './progress.ts';

export interface LabImage {
  base: string;
  repo: string;
  key: string;
  /** True when this call built it. */
  built: boolean;
}

/**
 * One directory per image key: a lab keeps using the image it booted from
 * (its nodes' overlays sit on it) while a newer package list builds the next.
 */
export function imagePaths(key = imageKey()) {
  const root = path.join(cacheDir(), 'lab-image');
  const dir = path.join(root, key);
  return { root, dir, base: path.join(dir, 'base'), repo: path.join(dir, 'repo'), keyFile: path.join(dir, 'key'), log: path.join(dir, 'build.log') };
}

/** Remove older images (named by their key) that no mounted overlay still sits on. */
function pruneImages(keep: string): void {
  const { root } = imagePaths(keep);
  const mounts = readFileSync('/proc/mounts', 'utf8');
  for (const k of readdirSync(root)) {
    const dir = path.join(root, k);
    if (k === keep || !/^[0-9a-f]{16}$/.test(k) || !statSync(dir).isDirectory() || mounts.includes(`${dir}/base`)) continue;
    rmSync(dir, { recursive: true, force: true });
  }
}

export function imageKey(root = projectRoot()): string {
  const m = hostMirrors();
  const h = createHash('sha256');
  for (const f of ['labs/packages.txt', 'labs/nspawn/build-base.sh']) h.update(readFileSync(path.join(root, f)));
  h.update(`${m.mirror}|${m.security ?? ''}`);
  return h.digest('hex').slice(0, 16);
}

export function imageIsCurrent(key = imageKey()): boolean {
  const p = imagePaths(key);
  return existsSync(p.keyFile) && readFileSync(p.keyFile, 'utf8').trim() === key && existsSync(path.join(p.base, 'etc/os-release')) && existsSync(path.join(p.repo, 'Packages'));
}

export async function ensureImage(progress: Progress, opts: { rebuild?: boolean } = {}): Promise<LabImage> {
  const root = projectRoot();
  const key = imageKey(root);
  const p = imagePaths(key);
  if (!opts.rebuild && imageIsCurrent(key)) {
    progress.phase(`base image: cached (${p.dir})`);
    return { base: p.base, repo: p.repo, key, built: false };
  }
  mkdirSync(p.dir, { recursive: true });
  // One build per image at a time: another `lab up` may be building it now.
  const release = await lockBuild(p.dir, progress);
  try {
    if (!opts.rebuild && imageIsCurrent(key)) {
      progress.phase(`base image: built meanwhile by another lab up (${p.dir})`);
      return { base: p.base, repo: p.repo, key, built: false };
    }
    return await build(root, key, p, progress);
  } finally {
    release();
  }
}

async function lockBuild(dir: string, progress: Progress): Promise<() => void> {
  const lock = path.join(dir, 'build.lock');
  for (let waited = 0; ; waited++) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      return () => rmSync(lock, { recursive: true, force: true });
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(path.join(lock, 'pid'), 'utf8'));
        process.kill(holder, 0);
      } catch {
        rmSync(lock, { recursive: true, force: true }); // its builder is gone
        continue;
      }
      if (waited % 30 === 0) progress.line(`waiting for the image build of process ${holder}…`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function build(root: string, key: string, p: ReturnType<typeof imagePaths>, progress: Progress): Promise<LabImage> {
  const { mirror, security } = hostMirrors();
  progress.phase(`base image: building Debian 12 from ${mirror} (log: ${p.log})`);
  const log = createWriteStream(p.log);
  let total = { count: 0, bytes: 0 };
  let got = { count: 0, bytes: 0 };
  let phase = '';
  const tail: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('bash', [path.join(root, 'labs/nspawn/build-base.sh')], {
      env: { ...process.env, BASE: p.base, REPO: p.repo, MIRROR: mirror, SECURITY_MIRROR: security ?? '', PACKAGES: path.join(root, 'labs/packages.txt') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    const onData = (d: Buffer) => {
      log.write(d);
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        const ph = /^::phase (\S+)/.exec(line);
        if (ph) {
          phase = ph[1];
          if (phase !== 'done') progress.phase(`  ${{ debootstrap: 'debootstrap (Debian 12 base system)', upgrade: 'upgrade to bookworm-updates and -security', resolve: 'resolve the package closure of labs/packages.txt', download: 'download packages for the local repository', index: 'index the local repository', finalize: 'finalize the base image' }[phase] ?? phase}`);
          continue;
        }
        const t = /^::total (\d+) (\d+)/.exec(line);
        if (t) {
          total = { count: Number(t[1]), bytes: Number(t[2]) };
          progress.line(`${total.count} packages to download`);
          continue;
        }
        const g = /^Get:\d+ .*\[([\d.,]+) ([kMG]?B)\]/.exec(line);
        if (g && phase === 'download' && total.bytes > 0) {
          const mult = { B: 1, kB: 1000, MB: 1e6, GB: 1e9 }[g[2]] ?? 1;
          got = { count: got.count + 1, bytes: got.bytes + Math.round(Number(g[1].replace(/,/g, '')) * mult) };
          progress.bar(Math.min(got.bytes, total.bytes), total.bytes, 'bytes');
        } else if (/^(I: Retrieving|I: Validating)/.test(line) && phase === 'debootstrap') {
          // debootstrap prints one line per package; show a count now and then
          got.count++;
          if (got.count % 50 === 0) progress.line(`debootstrap: ${got.count} package steps`);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  log.end();
  if (code !== 0) {
    throw new LabError(`building the base image failed in phase "${phase}" (exit ${code}):\n    ${tail.slice(-8).join('\n    ')}`, p.log, 'read the full log; a network failure can simply be retried with `drillbook lab up`');
  }
  writeFileSync(p.keyFile, key + '\n');
  pruneImages(key);
  return { base: p.base, repo: p.repo, key, built: true };
}
