/**
 * Case 1: one step on one host, warm. Time to the first output byte and to
 * completion: Drillbook's pooled connection (connected before timing) vs a
 * fresh `ssh host cmd`, vs ssh reusing a ControlPersist master (OpenSSH's
 * own warm path), vs `ansible HOST -m shell -a cmd` with Debian's defaults.
 */
import { ONE_LINER, type BenchContext } from '../lib/context.ts';
import { planFor, mustPass, timedRun } from '../lib/drillbook.ts';
import { benchFleet, controlPath } from '../lib/fleet.ts';
import { alternate, CaseRecorder, type CaseResult, type Contender } from '../lib/model.ts';
import { measure, mustSucceed, type Measured } from '../lib/procs.ts';
import { median } from '../lib/stats.ts';

const RUNS_PER_ROUND = 5;

export async function singleCase(ctx: BenchContext): Promise<CaseResult> {
  const contenders: Contender[] = [
    { id: 'drillbook', label: 'Drillbook, pooled ssh2 (warm)', short: 'Drillbook', drillbook: true },
    { id: 'ssh', label: 'ssh host cmd (fresh)', short: 'ssh' },
    { id: 'ssh-cm', label: 'ssh, ControlPersist master (warm)', short: 'ssh+ControlPersist' },
    { id: 'ansible', label: 'ansible -m shell (ControlPersist warm)', short: 'ansible' },
  ];
  const rec = new CaseRecorder('single', 'Case 1: one step on one host, warm', contenders, [
    { id: 'firstByte', label: 'first output byte', unit: 'ms', better: 'lower' },
    { id: 'completion', label: 'completion', unit: 'ms', better: 'lower' },
  ]);
  rec.runsPerRound = RUNS_PER_ROUND;
  for (const t of ['ssh', 'ansible'] as const) {
    const why = ctx.missing.get(t);
    if (why) for (const c of contenders.filter((c) => c.id.startsWith(t))) rec.skip(c.id, why);
  }
  const active = contenders.filter((c) => !rec.notMeasured[c.id]);

  const fleet = await benchFleet(1);
  try {
    const host = fleet.names[0];
    const plan = planFor(`on="${host}"`, ONE_LINER, fleet.inventory);
    const pool = fleet.newPool();
    const cm = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${controlPath(fleet, host)}`, '-o', 'ControlPersist=300'];
    const ansibleEnv = fleet.ansibleEnv({ controlPersist: true });
    const check = (what: string, m: Measured) => {
      mustSucceed(what, m);
      if (!m.stdout.includes('hello from')) throw new Error(`${what} printed no output: ${m.stdout.slice(0, 300)}`);
      return m;
    };
    const runOnce = async (c: Contender): Promise<{ firstByte?: number; completion: number }> => {
      switch (c.id) {
        case 'drillbook': {
          const r = mustPass('Drillbook', await timedRun(plan, pool));
          return { firstByte: r.firstByteMs, completion: r.wallMs };
        }
        case 'ssh': {
          const m = check('ssh', await measure('ssh', [...fleet.sshArgs(host), ONE_LINER]));
          return { firstByte: m.firstByteMs, completion: m.wallMs };
        }
        case 'ssh-cm': {
          const m = check('ssh (ControlPersist)', await measure('ssh', [...fleet.sshArgs(host, cm), ONE_LINER]));
          return { firstByte: m.firstByteMs, completion: m.wallMs };
        }
        case 'ansible': {
          const m = check('ansible', await measure('ansible', [host, '-m', 'shell', '-a', ONE_LINER], { env: ansibleEnv }));
          return { firstByte: m.firstByteMs, completion: m.wallMs };
        }
      }
      throw new Error(`unknown contender ${c.id}`);
    };

    // Warm-up, not timed: Drillbook's pool connects, the ControlPersist masters start, caches fill.
    for (const c of active) await runOnce(c);

    await alternate(
      ctx.rounds,
      [{ id: 'round', label: `${RUNS_PER_ROUND} runs of each contender` }],
      async (round) => {
        const firsts = new Map<string, number[]>();
        const totals = new Map<string, number[]>();
        for (let i = 0; i < RUNS_PER_ROUND; i++) {
          const order = active.map((_, k) => active[(k + i + round) % active.length]);
          for (const c of order) {
            const r = await runOnce(c);
            if (r.firstByte !== undefined) firsts.set(c.id, [...(firsts.get(c.id) ?? []), r.firstByte]);
            totals.set(c.id, [...(totals.get(c.id) ?? []), r.completion]);
          }
        }
        for (const c of active) {
          rec.record(round, c.id, 'firstByte', median(firsts.get(c.id) ?? []));
          rec.record(round, c.id, 'completion', median(totals.get(c.id) ?? []));
        }
      },
      ctx.progress,
    );
    rec.notes.push(`command on every contender: ${ONE_LINER}; host: one OpenSSH sshd on a loopback port, key auth, host key checked (Drillbook: pinned in the inventory; OpenSSH and Ansible: StrictHostKeyChecking=yes with a known_hosts written by the bench)`);
    rec.notes.push('Drillbook is timed in-process around executeStep (what the server does for a click), with its pool connected before timing; the others are timed from spawning the CLI to its exit');
    rec.notes.push('Ansible runs with Debian\'s ssh defaults (ControlPersist=60s, pipelining off) and interpreter_python set (no discovery); after the untimed warm-up its connection is warm too. Its output only comes at the end, so first byte ≈ completion');
  } finally {
    await fleet.stop();
  }
  return rec.result();
}
