/**
 * Chapter 6 on the local lab, for real: memcached on three nodes with
 * client-side distribution, Redis with two replicas and Sentinel, and the
 * three drills with what their probes measured.
 */
import { describe, expect, it } from 'vitest';
import { runOnLab, type ChapterRun } from '../fixtures/lab.ts';

type DrillRun = ChapterRun['drills'][number];

const SURVIVORS = ['ctl2', 'ctl3'];
/** Steps that crash a kernel: marked needs="vm", so a container lab skips them. */
const VM_ONLY = ['crash-primary-node', 'failover-after-crash', 'after-crash'];

describe('chapter 6: Memcached and Redis', () => {
  let doc: ChapterRun;
  const drill = (id: string) => {
    const d: DrillRun | undefined = doc.drills.find((x) => x.drill.globalId === `06-memcached-and-redis/${id}`);
    if (!d) throw new Error(`drill ${id} did not run`);
    return d;
  };
  const output = (d: DrillRun, role: 'break' | 'verify' | 'recover', host: string) => d.steps[role]?.hosts.find((h) => h.host === host)?.output ?? '';

  it('runs the whole chapter on the lab: deploy, verify, three drills, recover', async () => {
    const r = await runOnLab(['6']);
    doc = r.doc;
    expect(doc.notRun).toEqual([]);
    const id = (x: { step: { globalId: string } }) => x.step.globalId.split('/')[1];
    expect(doc.results.map(id)).toEqual([
      'install',
      'memcached-listen',
      'cache-client',
      'memcached-spread',
      'redis-replication',
      'replication-up',
      'sentinel',
      'sentinel-quorum',
      'redis-handback',
      'redis-back-on-ctl1',
      'redis-writer',
      ...VM_ONLY,
    ]);
    // Every lab step passed; the kernel crash and its checks were skipped, never run, on a container lab.
    expect(doc.results.filter((x) => !VM_ONLY.includes(id(x)) && x.verdict !== 'passed').map((x) => `${x.step.globalId}: ${x.verdict}`)).toEqual([]);
    for (const x of doc.results.filter((r) => VM_ONLY.includes(id(r)))) {
      expect(x.verdict, x.step.globalId).toBe('skipped');
      expect(x.message).toMatch(/needs real VMs/);
      expect(x.hosts.every((h) => h.attempts === 0 && h.output === '')).toBe(true);
    }
    expect(doc.drills.map((d) => [d.drill.globalId.split('/')[1], d.verdict])).toEqual([
      ['memcached-node-lost', 'passed'],
      ['redis-primary-stopped', 'passed'],
      ['redis-primary-isolated', 'passed'],
    ]);
    expect(r.code, r.stderr).toBe(0);
  }, 1_200_000);

  it('deployed Redis with ctl1 as primary, two replicas and three Sentinels that agree', () => {
    const quorum = doc.results.find((x) => x.step.globalId.endsWith('/sentinel-quorum'))!;
    expect(quorum.hosts.map((h) => h.host).sort()).toEqual(['ctl1', 'ctl2', 'ctl3']);
    for (const h of quorum.hosts) expect(h.output).toMatch(/^sentinel: primary ctl1, 2 replicas, 2 other sentinels, quorum OK$/m);
    // The recover steps handed the primary back: the lab ends as deployed.
    const back = doc.results.find((x) => x.step.globalId.endsWith('/redis-back-on-ctl1'))!;
    expect(back.hosts.find((h) => h.host === 'ctl1')!.output).toMatch(/^primary with 2 replicas$/m);
  });

  it('memcached drill: losing ctl1 cost cache misses, not errors', () => {
    const d = drill('memcached-node-lost');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl1,ctl2,ctl3');
    expect(f.servedAfter).toBe('ctl2,ctl3');
    // Not an outage: every probe got all its keys back.
    expect(f.failed).toBe(0);
    expect(d.samples.every((s) => s.ok)).toBe(true);
    expect(f.total).toBeGreaterThan(5);
    // Before the fault every key was found where it belongs ...
    expect(d.samples.filter((s) => s.t < -500).every((s) => s.backend === 'ctl1,ctl2,ctl3')).toBe(true);
    // ... then the keys that lived on ctl1 missed once (in the probe, the only client that refills) ...
    const missRuns = d.samples.filter((s) => s.t > -500 && /\(\d+ misses\)$/.test(s.backend ?? ''));
    expect(missRuns.length, JSON.stringify(d.samples)).toBe(1);
    const misses = Number(/\((\d+) misses\)$/.exec(missRuns[0].backend!)![1]);
    expect(misses).toBeGreaterThan(0);
    expect(misses).toBeLessThan(30);
    // ... and from then on every key was found on ctl2 and ctl3.
    const after = d.samples.filter((s) => s.t > missRuns[0].t);
    expect(after.length).toBeGreaterThan(1);
    expect(after.every((s) => s.backend === 'ctl2,ctl3')).toBe(true);
    expect(f.recoveryConditionMs).not.toBeNull();
    expect(f.recoveryConditionMs!).toBeLessThan(10_000);
    // ctl1 came back empty: the same keys missed once more, then the client used all three servers again;
    // the copies it had written to ctl2/ctl3 meanwhile were still there (one per key that lived on ctl1).
    const rec = /^ctl1,ctl2,ctl3 \((\d+) misses\)\nctl1,ctl2,ctl3\n(\d+) stray copies dropped$/m.exec(output(d, 'recover', 'ctl1'));
    expect(rec, output(d, 'recover', 'ctl1')).not.toBeNull();
    expect(Number(rec![1])).toBe(misses);
    expect(Number(rec![2])).toBe(misses);
  });

  it('Redis primary stopped: Sentinel promoted ctl2 or ctl3 after down-after-milliseconds, and the probe followed it', () => {
    const d = drill('redis-primary-stopped');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl1');
    expect(SURVIVORS).toContain(f.servedAfter);
    expect(f.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(f.failed).toBeGreaterThanOrEqual(3);
    expect(f.total).toBeGreaterThan(20);
    // Sentinel cannot act before down-after-milliseconds (3 s), and should be done well within 15 s.
    expect(f.outageMs).toBeGreaterThan(2500);
    expect(f.outageMs).toBeLessThan(15_000);
    expect(f.recoveryConditionMs!).toBeGreaterThan(3000);
    expect(f.recoveryConditionMs!).toBeLessThan(20_000);
    // Every Sentinel named the new primary; the old one rejoined as a replica, then got the role back.
    for (const h of ['ctl1', 'ctl2', 'ctl3']) expect(output(d, 'verify', h)).toMatch(new RegExp(`^sentinel on ${h}: primary is ${f.servedAfter}$`, 'm'));
    const recover = output(d, 'recover', 'ctl1');
    expect(recover).toMatch(new RegExp(`^ctl1: replica of ${f.servedAfter}, link up$`, 'm'));
    expect(recover).toMatch(/^ctl1: master with 2 replicas$/m);
  });

  it('Redis primary isolated: the majority failed over, and every write the isolated primary acknowledged was lost', () => {
    const d = drill('redis-primary-isolated');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl1');
    expect(SURVIVORS).toContain(f.servedAfter);
    expect(f.failed).toBeGreaterThanOrEqual(3);
    expect(f.outageMs).toBeGreaterThan(2500);
    expect(f.outageMs).toBeLessThan(15_000);
    expect(f.recoveryConditionMs!).toBeLessThan(20_000);
    for (const h of SURVIVORS) expect(output(d, 'verify', h)).toMatch(new RegExp(`^sentinel on ${h}: primary is ${f.servedAfter}$`, 'm'));
    const recover = output(d, 'recover', 'ctl1');
    const num = (re: RegExp) => Number(re.exec(recover)?.[1] ?? NaN);
    const acked = num(/^writes acknowledged by ctl1 after the cut: (\d+)$/m);
    const refused = num(/^writes refused \(NOREPLICAS\), the first [\d.]+ s after the cut: (\d+)$/m);
    const firstRefusal = num(/^writes refused \(NOREPLICAS\), the first ([\d.]+) s after the cut/m);
    const lost = num(/^acknowledged writes lost: (\d+)$/m);
    // At 10 writes/s, min-replicas-max-lag 10 lets the cut-off primary say OK for about 10 s.
    expect(acked, recover).toBeGreaterThan(20);
    // All of them are gone; a write or two either side of the cut can fall on the other side of the line.
    expect(Math.abs(lost - acked), recover).toBeLessThanOrEqual(3);
    // Then min-replicas-to-write made it refuse instead.
    expect(refused, recover).toBeGreaterThan(0);
    expect(firstRefusal, recover).toBeGreaterThan(8);
    expect(firstRefusal, recover).toBeLessThan(16);
    expect(recover).toMatch(new RegExp(`^ctl1: role slave \\(replica\\) of ${f.servedAfter}, link up$`, 'm'));
    expect(recover).toMatch(/^ctl1: master with 2 replicas$/m);
  });
});
