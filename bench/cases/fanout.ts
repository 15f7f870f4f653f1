/**
 * Case 2: one command on 30 hosts (30 sshd processes on loopback ports).
 * Wall time and peak memory of each tool's process tree, sampled from /proc
 * the same way for all: `drillbook run` (a new process: Node start, manifest,
 * 30 connections, the step) vs `parallel-ssh -p 30` vs `ansible all -f 30`
 * (fresh connections, like the other two). Drillbook's server, which keeps
 * its pool, is also timed on a warm pool (in-process, wall time only).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onCleanup } from '../lib/cleanup.ts';
import { ONE_LINER, type BenchContext } from '../lib/context.ts';
import { BENCH_CHAPTER, benchChapterText, mustPass, planFor, timedRun } from '../lib/drillbook.ts';
import { benchFleet } from '../lib/fleet.ts';
import { alternate, CaseRecorder, type CaseResult, type Contender } from '../lib/model.ts';
import { measure, mustSucceed, type Measured } from '../lib/procs.ts';
import { writeChapters } from '../../test/fixtures/chapters.ts';
import { BENCH_DIR } from '../lib/results.ts';

export const FANOUT_HOSTS = 30;

export async function fanoutCase(ctx: BenchContext): Promise<CaseResult> {
  const contenders: Contender[] = [
    { id: 'drillbook', label: 'drillbook run (new process)', short: 'drillbook run', drillbook: true },
    { id: 'drillbook-dry', label: 'drillbook run --dry-run (start-up only)', short: 'its start-up alone', drillbook: true },
    { id: 'drillbook-warm', label: 'Drillbook server, warm pool', short: 'server, warm pool', drillbook: true },
    { id: 'pssh', label: `parallel-ssh -p ${FANOUT_HOSTS}`, short: 'parallel-ssh' },
    { id: 'ansible', label: `ansible all -f ${FANOUT_HOSTS}`, short: 'ansible' },
  ];
  const rec = new CaseRecorder('fanout', `Case 2: one command on ${FANOUT_HOSTS} hosts (fan-out)`, contenders, [
    { id: 'wall', label: 'wall time', unit: 'ms', better: 'lower' },
    { id: 'rss', label: 'peak RSS, process tree', unit: 'bytes', better: 'lower' },
    { id: 'pss', label: 'peak PSS, process tree', unit: 'bytes', better: 'lower' },
  ]);
  if (ctx.missing.get('pssh')) rec.skip('pssh', ctx.missing.get('pssh')!);
  if (ctx.missing.get('ansible')) rec.skip('ansible', ctx.missing.get('ansible')!);
  const active = contenders.filter((c) => !rec.notMeasured[c.id]);

  const fleet = await benchFleet(FANOUT_HOSTS);
  const chapters = writeChapters({ [`${BENCH_CHAPTER}.mdx`]: benchChapterText([{ attrs: 'id="fan" title="Fan-out" on="all"', script: ONE_LINER }]) });
  const state = mkdtempSync(path.join(os.tmpdir(), 'drillbook-bench-state-'));
  const undo = onCleanup('fan-out chapters and state', () => {
    rmSync(chapters, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });
  try {
    const dbEnv = { ...process.env, DRILLBOOK_CHAPTERS_DIR: chapters, DRILLBOOK_STATE_DIR: state, NO_COLOR: '1' };
    const plan = planFor('on="all"', ONE_LINER, fleet.inventory);
    const pool = fleet.newPool();
    const ansibleEnv = fleet.ansibleEnv({ controlPersist: false });
    const count = (what: string, m: Measured, re: RegExp) => {
      mustSucceed(what, m);
      const n = (m.stdout.match(re) ?? []).length;
      if (n !== FANOUT_HOSTS) throw new Error(`${what}: ${n} of ${FANOUT_HOSTS} hosts answered:\n${m.stdout.slice(-1500)}\n${m.stderr.slice(-1500)}`);
      return m;
    };
    const cli = [path.join(BENCH_DIR, '..', 'bin', 'drillbook.mjs'), 'run', `${BENCH_CHAPTER}/fan`, '--inventory', fleet.inventoryFile];
    const runOnce = async (c: Contender, warmup = false): Promise<{ wall: number; rss?: number; pss?: number }> => {
      switch (c.id) {
        case 'drillbook': {
          const m = count('drillbook run', await measure(process.execPath, cli, { env: dbEnv, memory: true }), /hello from/g);
          return { wall: m.wallMs, rss: m.peakRss, pss: m.peakPss };
        }
        case 'drillbook-dry': {
          const m = mustSucceed('drillbook run --dry-run', await measure(process.execPath, [...cli, '--dry-run'], { env: dbEnv, memory: true }));
          return { wall: m.wallMs, rss: m.peakRss, pss: m.peakPss };
        }
        case 'drillbook-warm': {
          const r = mustPass('Drillbook (warm pool)', await timedRun(plan, pool));
          if (r.passed !== FANOUT_HOSTS) throw new Error(`Drillbook (warm pool): ${r.passed} of ${FANOUT_HOSTS} passed`);
          return { wall: r.wallMs };
        }
        case 'pssh': {
          const m = count('parallel-ssh', await measure('parallel-ssh', ['-h', fleet.psshHostsFile, '-p', String(FANOUT_HOSTS), '-t', '120', '-i', '-x', fleet.sshOptions.join(' '), ONE_LINER], { memory: true }), /\[SUCCESS\]/g);
          return { wall: m.wallMs, rss: m.peakRss, pss: m.peakPss };
        }
        case 'ansible': {
          if (warmup) {
            // Its byte-code caches only: one host is enough (30 take minutes on a busy 2-core machine).
            mustSucceed('ansible (warm-up)', await measure('ansible', [fleet.names[0], '-m', 'shell', '-a', ONE_LINER], { env: ansibleEnv }));
            return { wall: NaN };
          }
          const m = count('ansible', await measure('ansible', ['all', '-f', String(FANOUT_HOSTS), '-m', 'shell', '-a', ONE_LINER], { env: ansibleEnv, memory: true }), /\| CHANGED \| rc=0/g);
          return { wall: m.wallMs, rss: m.peakRss, pss: m.peakPss };
        }
      }
      throw new Error(`unknown contender ${c.id}`);
    };

    // Warm-up, not timed: page cache, tsx's transform cache, Python's bytecode, the warm pool.
    for (const c of active) await runOnce(c, true);

    await alternate(
      ctx.rounds,
      active,
      async (round, c) => {
        const r = await runOnce(c);
        rec.record(round, c.id, 'wall', r.wall);
        rec.record(round, c.id, 'rss', r.rss);
        rec.record(round, c.id, 'pss', r.pss);
      },
      ctx.progress,
    );
    rec.notes.push(`${FANOUT_HOSTS} OpenSSH sshd processes on loopback ports (MaxStartups 100:30:200), host keys checked by every tool; command: ${ONE_LINER}; every run is checked: all ${FANOUT_HOSTS} hosts answered`);
    rec.notes.push('memory: the tool\'s whole process tree sampled from /proc every 20 ms (its ssh children included; the sshd side is not counted for anyone). RSS sums count pages shared by forked processes once per process; PSS splits them, which is fairer to forking tools (Ansible)');
    rec.notes.push('ansible runs with ControlMaster=no here (fresh connections, as parallel-ssh and `drillbook run` make), pipelining off (Debian\'s default), interpreter_python set');
    rec.notes.push('"drillbook run --dry-run" is the same command without connecting: Node, tsx, the manifest and the plan (what the new process spends before the fan-out)');
    rec.notes.push('"Drillbook server, warm pool" is the step run again on the server\'s already-connected pool (what a second click does), timed in-process: wall time only');
  } finally {
    await undo();
    await fleet.stop();
  }
  return rec.result();
}
