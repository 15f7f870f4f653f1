/**
 * Case 5 (opt-in: --lab): the local lab. Base image build time cold
 * (`lab up --rebuild`) and cached (`lab up` again), and the time to boot 3
 * nodes until SSH answers, on the benchmark's own lab ("bench",
 * 10.95.0.0/24), taken down afterwards.
 *
 * The image is built in a private cache directory (DRILLBOOK_CACHE_DIR):
 * the shared image under ~/.cache/drillbook/lab-image/<key>/ is the lower
 * layer of other people's running labs, and `--rebuild` there would delete
 * and rebuild it under them. A private cache also makes "cold" really cold.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { onCleanup } from '../lib/cleanup.ts';
import type { BenchContext } from '../lib/context.ts';
import { isRoot } from '../lib/deps.ts';
import { alternate, CaseRecorder, type CaseResult, type Contender } from '../lib/model.ts';
import { measure, mustSucceed, type Measured } from '../lib/procs.ts';
import { BENCH_DIR } from '../lib/results.ts';
import { stateDir } from '../../server/state.ts';

export const LAB_NAME = 'bench';
export const LAB_SUBNET = '10.95.0.0/24';
const CLI = path.join(BENCH_DIR, '..', 'bin', 'drillbook.mjs');

interface Phases {
  network?: number;
  boot?: number;
  ssh: number[];
  provisioning?: number;
  end: number;
  imageBuilt: boolean;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')));
}

export async function labCase(ctx: BenchContext): Promise<CaseResult> {
  const contenders: Contender[] = [
    { id: 'cold', label: 'lab up --rebuild (cold image)', short: 'cold image', drillbook: true },
    { id: 'cached', label: 'lab up (cached image)', short: 'cached image', drillbook: true },
  ];
  const rec = new CaseRecorder(
    'lab',
    'Case 5: the local lab (3 nspawn nodes)',
    contenders,
    [
      { id: 'image', label: 'base image ready (from start)', unit: 'ms', better: 'lower' },
      { id: 'boot', label: 'boot 3 nodes until SSH answers', unit: 'ms', better: 'lower' },
      { id: 'provision', label: 'provisioning', unit: 'ms', better: 'lower' },
      { id: 'total', label: 'lab up, total', unit: 'ms', better: 'lower' },
      { id: 'down', label: 'lab down', unit: 'ms', better: 'lower' },
    ],
    'cold',
  );
  rec.references.push(
    { what: 'hosted lab start (Killercoda, heavy scenario)', figure: 'up to ~10 min', source: 'keptn/keptn #9398; argoproj-labs/training-material #37' },
    { what: 'notebook kernel start (VS Code/Jupyter, first cell)', figure: '7–26 s', source: 'microsoft/vscode-jupyter #7952' },
  );
  if (!isRoot()) {
    rec.skip('cold', 'the local lab needs root (bridge, overlays, systemd-nspawn)');
    rec.skip('cached', 'the local lab needs root');
    return rec.result();
  }
  const labState = path.join(stateDir(), 'labs', LAB_NAME, 'lab.json');
  if (existsSync(labState)) {
    throw new Error(`a lab "${LAB_NAME}" already exists (${labState}): the benchmark only uses a lab it creates itself; take it down first with \`npx drillbook lab down --name ${LAB_NAME}\` if it is a leftover of an interrupted benchmark`);
  }
  const guardRoute = () => spawnSync('ip', ['route', 'show', 'table', 'main', 'type', 'unreachable', LAB_SUBNET], { encoding: 'utf8' }).stdout.trim() !== '';
  const hadGuard = guardRoute();
  const cache = mkdtempSync(path.join('/var/tmp', 'drillbook-bench-cache-'));
  const env = { ...process.env, DRILLBOOK_CACHE_DIR: cache, NO_COLOR: '1' };
  const lab = (args: string[], onLine?: (l: string, at: number) => void): Promise<Measured> =>
    measure(process.execPath, [CLI, 'lab', ...args, '--name', LAB_NAME], { env, onStderrLine: onLine, onStdoutLine: onLine, timeoutMs: 45 * 60_000 });

  const down = async () => {
    if (existsSync(labState)) mustSucceed('lab down', await lab(['down']));
    // What `lab down` leaves: the lab's key in its state dir, and the guard route (removed only if this benchmark added it).
    const dir = path.dirname(labState);
    if (existsSync(dir) && !existsSync(labState) && !existsSync(path.join(dir, 'nodes'))) {
      for (const f of readdirSync(dir)) if (!/^lab_key(\.pub)?$/.test(f)) return;
      rmSync(dir, { recursive: true, force: true });
    }
    if (!hadGuard && guardRoute()) spawnSync('ip', ['route', 'del', 'unreachable', LAB_SUBNET, 'metric', '4294967295'], { stdio: 'ignore' });
  };
  const undoLab = onCleanup(`lab "${LAB_NAME}"`, down);
  const undoCache = onCleanup(`private image cache ${cache}`, () => {
    // Never delete through a mount (an interrupted debootstrap may leave /proc or /dev mounted in it).
    for (const m of mountsUnder(cache).reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    const left = mountsUnder(cache);
    if (left.length) throw new Error(`not removing ${cache}: still mounted: ${left.join(', ')}`);
    spawnSync('rm', ['-rf', '--one-file-system', cache], { stdio: 'ignore' });
  });

  try {
    await alternate(
      ctx.rounds,
      contenders,
      async (round, c) => {
        // The cached run needs an image: in round 1 it runs after the cold one whatever the rotation.
        if (c.id === 'cached' && !existsSync(path.join(cache, 'lab-image'))) {
          ctx.progress('cached run first needs an image: building it (not timed as cached)');
        }
        const ph: Phases = { ssh: [], end: 0, imageBuilt: false };
        const args = ['up', '--subnet', LAB_SUBNET, ...(c.id === 'cold' ? ['--rebuild'] : [])];
        const m = await lab(args, (l, at) => {
          if (/^\[\s*[\d.]+ s\] \S/.test(l)) ctx.progress(`  ${l.replace(/^\[\s*[\d.]+ s\] /, '')}`);
          if (/base image: (building|cached|built meanwhile)/.test(l)) ph.imageBuilt ||= /building/.test(l);
          else if (/\bnetwork: guard route/.test(l)) ph.network ??= at;
          else if (/\bnodes: booting/.test(l)) ph.boot ??= at;
          else if (/ answers SSH \(/.test(l)) ph.ssh.push(at);
          else if (/\bprovisioning: /.test(l)) ph.provisioning ??= at;
        });
        mustSucceed(`lab up (${c.label})`, m);
        ph.end = m.wallMs;
        const cachedOk = c.id !== 'cached' || !ph.imageBuilt;
        if (cachedOk) {
          // From the start of `lab up` (its own start-up included, the same for both): the cached check itself takes no measurable time.
          if (ph.network !== undefined) rec.record(round, c.id, 'image', ph.network);
          if (ph.boot !== undefined && ph.ssh.length === 3) rec.record(round, c.id, 'boot', Math.max(...ph.ssh) - ph.boot);
          if (ph.provisioning !== undefined) rec.record(round, c.id, 'provision', ph.end - ph.provisioning);
          rec.record(round, c.id, 'total', ph.end);
        }
        const d = mustSucceed('lab down', await lab(['down']));
        if (cachedOk) rec.record(round, c.id, 'down', d.wallMs);
      },
      ctx.progress,
    );
    rec.notes.push(`own lab "${LAB_NAME}" on ${LAB_SUBNET} (topology infra3, 3 nodes), taken down after each run; the image is built in a private cache directory (DRILLBOOK_CACHE_DIR), never in the shared one other labs boot from`);
    rec.notes.push('cold: debootstrap of Debian 12 and the download of the package closure from the host\'s Debian mirror (network-bound); boot: from "nodes: booting" (overlay mounts, host keys) until the 3rd node\'s sshd answers; provisioning: labs/provision/common.sh on every node');
    rec.notes.push('no peer measured here: Vagrant is installed without a provider (no VirtualBox or libvirt on this machine)');
  } finally {
    await undoLab();
    await undoCache();
  }
  return rec.result();
}
