/**
 * Chapter 5 on the local lab, for real: a three-node RabbitMQ cluster with a
 * quorum queue, the queue leader's broker killed and ctl3 partitioned off
 * under a counting producer/consumer (both drills measured), and the books
 * checked afterwards: every confirmed sequence number must come back out of
 * the queue. Steps marked needs="vm" (the kernel panic) must not run on the
 * local lab.
 */
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/runbook/manifest.ts';
import { expectWholeChapter, runOnLab, type ChapterRun } from '../fixtures/lab.ts';

const chapter = loadManifest().chapters.find((c) => c.frontmatter.chapter === 5)!;
const vmSteps = new Set(chapter.steps.filter((s) => s.needs === 'vm').map((s) => s.id));
/** The steps a whole-chapter run executes on the local lab, in page order (drills report separately). */
const LAB_STEPS = [
  'install', 'configure', 'join', 'users', 'cluster-formed', 'client', 'queue', 'queue-replicated', 'client-round-trip',
  'no-loss-after-kill', 'cluster-healed', 'no-loss-after-partition',
];

type Drill = Omit<ChapterRun['drills'][number], 'samples'> & {
  phases: { name: string; t: number }[];
  samples: { t: number; ok: boolean; backend?: string }[];
  steps: { break?: { hosts: { host: string; verdict: string; output: string }[] }; verify?: { hosts: { host: string; verdict: string; output: string }[] } };
};

/** The counting client's books: `attempted=… confirmed=… received=… drained=… lost=… duplicates=…`. */
function books(output: string): Record<'attempted' | 'confirmed' | 'received' | 'drained' | 'lost' | 'duplicates', number> {
  const m = /attempted=(\d+) confirmed=(\d+) received=(\d+) drained=(\d+) lost=(\d+) duplicates=(\d+)/.exec(output);
  if (!m) throw new Error(`no books in the check's output:\n${output}`);
  const [attempted, confirmed, received, drained, lost, duplicates] = m.slice(1).map(Number);
  return { attempted, confirmed, received, drained, lost, duplicates };
}

describe('chapter 5: RabbitMQ', () => {
  let doc: ChapterRun;
  const result = (id: string) => doc.results.find((r) => r.step.globalId === `${chapter.slug}/${id}`)!;
  const output = (id: string, host: string) => result(id).hosts.find((h) => h.host === host)!.output;
  const drill = (id: string) => doc.drills.find((d) => d.drill.globalId === `${chapter.slug}/${id}`) as Drill;
  const okSamples = (d: Drill) => d.samples.filter((s) => s.ok).length;

  it('marks the kernel panic as needing real VMs, and has two drills', () => {
    expect([...vmSteps]).toEqual(['panic-leader', 'panic-new-leader', 'panic-rejoined']);
    expect(chapter.drills.map((d) => d.id)).toEqual(['leader-killed', 'ctl3-partitioned']);
    expect(chapter.steps.filter((s) => !s.drill && s.needs !== 'vm').map((s) => s.id)).toEqual(LAB_STEPS);
  });

  it('runs the whole chapter on the lab: deploy, verify, both drills, the books', async () => {
    const r = await runOnLab(['5']);
    doc = r.doc;
    expectWholeChapter(r, { vmSteps, labSteps: LAB_STEPS, drills: ['leader-killed', 'ctl3-partitioned'] });
  }, 1_200_000);

  it('the cluster formed with three running brokers and the queue has three members led by ctl1', () => {
    for (const h of result('cluster-formed').hosts) expect(h.output).toMatch(/^running=3 partitions=0 alarms=0$/m);
    expect(output('queue-replicated', 'ctl1')).toMatch(/^drill\.seq\tquorum\trabbit@ctl1\t3\t3$/m);
    expect(output('client-round-trip', 'ctl3')).toMatch(/^ctl1\nseq=1 via=ctl1 got=1$/m);
  });

  it('leader killed: the queue leadership moved from ctl1 to a survivor, with at most a few failed probes', () => {
    const d = drill('leader-killed');
    expect(d.verdict).toBe('passed');
    const f = d.figures;
    // The break killed the broker on the node that led the queue: ctl1, where the queue was declared.
    const killed = d.steps.break!.hosts.filter((h) => h.verdict === 'passed').map((h) => h.host);
    expect(killed).toEqual(['ctl1']);
    expect(f.servedBefore).toBe('ctl1');
    expect(['ctl2', 'ctl3']).toContain(f.servedAfter);
    // The probe's first line is the leader as the answering broker sees it: after the recovery condition, never ctl1 again.
    const after = d.samples.filter((s) => s.ok && s.t >= f.recoveryConditionMs!);
    expect(after.length).toBeGreaterThan(3);
    expect(after.filter((s) => s.backend === 'ctl1')).toEqual([]);
    // The recovery condition ran on the new leader, which the probe also named.
    const leader = d.steps.verify!.hosts.filter((h) => h.verdict === 'passed');
    expect(leader.map((h) => h.host)).toEqual([f.servedAfter]);
    expect(leader[0].output).toMatch(new RegExp(`^rabbit@${f.servedAfter} leads drill\\.seq`, 'm'));
    expect(f.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(f.total).toBeGreaterThan(10);
    // The peers see the killed node's sockets close at once, so the election is quick: a probe or two at most.
    expect(f.failed).toBeLessThanOrEqual(4);
    expect(f.outageMs).toBeLessThan(5000);
    expect(f.restoredMs).not.toBeNull();
    expect(f.recoveryConditionMs).toBeGreaterThan(0);
    expect(f.recoveryConditionMs!).toBeLessThan(15_000);
  });

  it('no confirmed message was lost when the leader was killed', () => {
    const b = books(output('no-loss-after-kill', 'ctl3'));
    expect(b.lost).toBe(0);
    // Every successful probe had its publish confirmed (plus the round trip before the drill).
    expect(b.confirmed).toBeGreaterThanOrEqual(okSamples(drill('leader-killed')) + 1);
    expect(b.attempted).toBeGreaterThanOrEqual(b.confirmed);
    expect(b.received).toBeGreaterThanOrEqual(b.confirmed);
  });

  it('ctl3 partitioned: clients of ctl3 stalled until it paused itself, then moved to the majority', () => {
    const d = drill('ctl3-partitioned');
    expect(d.verdict).toBe('passed');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl3');
    expect(['ctl1', 'ctl2']).toContain(f.servedAfter);
    const after = d.samples.filter((s) => s.ok && s.t >= f.recoveryConditionMs!);
    expect(after.length).toBeGreaterThan(3);
    expect(after.filter((s) => s.backend === 'ctl3')).toEqual([]);
    expect(d.steps.verify!.hosts[0].output).toMatch(/^ctl3 is paused \(minority\)/m);
    expect(f.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(f.failed).toBeGreaterThanOrEqual(2);
    expect(f.total).toBeGreaterThan(15);
    // Nothing times the silence out but Erlang's tick: 0.75-1.25 x net_ticktime (10 s on the lab).
    expect(f.outageMs).toBeGreaterThan(5000);
    expect(f.outageMs).toBeLessThan(20_000);
    expect(f.restoredMs).not.toBeNull();
    expect(f.recoveryConditionMs!).toBeGreaterThan(5000);
    expect(f.recoveryConditionMs!).toBeLessThan(30_000);
  });

  it('after the partition the cluster is whole again and still no confirmed message was lost', () => {
    for (const h of result('cluster-healed').hosts) expect(h.output).toMatch(/^running=3 partitions=0 alarms=0$/m);
    const b = books(output('no-loss-after-partition', 'ctl3'));
    expect(b.lost).toBe(0);
    expect(b.confirmed).toBeGreaterThanOrEqual(okSamples(drill('leader-killed')) + okSamples(drill('ctl3-partitioned')) + 1);
    expect(b.received).toBeGreaterThanOrEqual(b.confirmed);
    // Publishes that hung on the cut-off broker were never confirmed: the client knows to retry them.
    expect(b.attempted - b.confirmed).toBeGreaterThanOrEqual(drill('ctl3-partitioned').figures.failed - 1);
  });
});
