/**
 * Chapter 7 on the local lab, for real: MariaDB Galera deployed behind the
 * chapter 4 VIP, the writer killed and a node partitioned under a probe
 * (both drills measured), and the whole cluster crashed and bootstrapped
 * again from its recovered positions. Steps marked needs="vm" (the power
 * cut, MongoDB) must not run on the local lab. Needs chapter 4 on the same
 * lab (04-haproxy-keepalived.test.ts runs first).
 */
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/runbook/manifest.ts';
import { expectWholeChapter, runOnLab, type ChapterRun } from '../fixtures/lab.ts';

const chapter = loadManifest().chapters.find((c) => c.frontmatter.chapter === 7)!;
const vmSteps = new Set(chapter.steps.filter((s) => s.needs === 'vm').map((s) => s.id));
/** The steps a whole-chapter run executes on the local lab, in page order (drills report separately). */
const LAB_STEPS = [
  'install', 'galera-config', 'bootstrap', 'join', 'cluster-formed', 'drill-schema', 'client-credentials', 'write-ctl1-read-ctl3',
  'health-check', 'health-answers', 'haproxy-galera', 'vip-writes',
  'rejoined-by-ist', 'no-write-lost', 'writer-back', 'ctl3-rejoined',
  'crash-all', 'grastate-unsafe', 'recover-positions', 'bootstrap-again', 'start-others', 'cluster-whole-again', 'vip-serves-again',
];

type Drill = Omit<ChapterRun['drills'][number], 'samples'> & {
  phases: { name: string; t: number }[];
  samples: { t: number; ok: boolean; backend?: string }[];
  steps: { verify?: { hosts: { host: string; output: string }[] } };
};

describe('chapter 7: MariaDB Galera', () => {
  let doc: ChapterRun;
  const result = (id: string) => doc.results.find((r) => r.step.globalId === `${chapter.slug}/${id}`)!;
  const drill = (id: string) => doc.drills.find((d) => d.drill.globalId === `${chapter.slug}/${id}`) as Drill;

  it('marks the power cut and MongoDB as needing real VMs, and has two drills', () => {
    expect([...vmSteps]).toEqual(['power-cut', 'after-power-cut', 'mongodb-install', 'mongodb-config', 'mongodb-initiate', 'mongodb-primary', 'mongodb-stepdown', 'mongodb-new-primary']);
    expect(chapter.drills.map((d) => d.id)).toEqual(['writer-killed', 'ctl3-partitioned']);
    expect(chapter.steps.filter((s) => !s.drill && s.needs !== 'vm').map((s) => s.id)).toEqual(LAB_STEPS);
  });

  it('runs the whole chapter on the lab: deploy, verify, both drills, full-cluster crash and bootstrap', async () => {
    const r = await runOnLab(['7']);
    doc = r.doc;
    expectWholeChapter(r, { vmSteps, labSteps: LAB_STEPS, drills: ['writer-killed', 'ctl3-partitioned'] });
  }, 1_200_000);

  it('the cluster formed with three members and a row written on ctl1 was read on ctl3', () => {
    for (const h of result('cluster-formed').hosts) expect(h.output).toMatch(/size=3 status=Primary state=Synced ready=ON/);
    expect(result('write-ctl1-read-ctl3').hosts[0].output).toMatch(/^read on ctl3: written on ctl1$/m);
    for (const h of result('vip-writes').hosts) expect(h.output.trim()).toBe('ctl1');
  });

  it('writer killed: writes moved from ctl1 to ctl2, with failed probes while the survivors evicted ctl1', () => {
    const d = drill('writer-killed');
    expect(d.verdict).toBe('passed');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl1');
    // The stick table keeps the writes on the backup that took over, even after ctl1 is back.
    expect(f.servedAfter).toBe('ctl2');
    const killed = d.phases.find((p) => p.name === 'fault-done')!.t;
    const during = d.samples.filter((s) => s.ok && s.t > killed && s.t < f.recoveryConditionMs!);
    expect(during.length).toBeGreaterThan(5);
    expect(new Set(during.map((s) => s.backend))).toEqual(new Set(['ctl2']));
    expect(f.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(f.failed).toBeGreaterThanOrEqual(2);
    expect(f.total).toBeGreaterThan(20);
    // HAProxy drops ctl1 after ~2 s, but commits wait for Galera to evict it (evs.suspect_timeout, 5 s).
    expect(f.outageMs).toBeGreaterThan(1000);
    expect(f.outageMs).toBeLessThan(20_000);
    expect(f.restoredMs).not.toBeNull();
    // systemd restarts mariadbd after RestartSec=5s, then ctl1 catches up: never before 5 s.
    expect(f.recoveryConditionMs!).toBeGreaterThan(5000);
    expect(f.recoveryConditionMs!).toBeLessThan(120_000);
    expect(f.recoveryConditionMs!).toBeGreaterThan(f.firstFailureMs!);
  });

  it('ctl1 caught up by IST, lost no row, and took the writes back after the recover step', () => {
    expect(result('rejoined-by-ist').hosts[0].output).toMatch(/rsync IST completed on joiner/);
    expect(result('rejoined-by-ist').hosts[0].output).toMatch(/Receiving IST: \d+ writesets/);
    const counts = result('no-write-lost').hosts[0].output.match(/^ctl\d: (\d+ rows, last id \d+)$/gm)!;
    expect(counts).toHaveLength(3);
    expect(new Set(counts.map((l) => l.slice(6))).size).toBe(1);
    expect(result('writer-back').hosts[0].output.trim()).toBe('ctl1');
  });

  it('ctl3 partitioned: writes stalled on the majority until ctl3 was evicted, never moved off ctl1, and ctl3 refused queries', () => {
    const d = drill('ctl3-partitioned');
    expect(d.verdict).toBe('passed');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl1');
    expect(f.servedAfter).toBe('ctl1');
    expect(new Set(d.samples.filter((s) => s.ok).map((s) => s.backend))).toEqual(new Set(['ctl1']));
    expect(f.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(f.failed).toBeGreaterThanOrEqual(1);
    expect(f.total).toBeGreaterThan(15);
    // A silent member holds up every commit until it is suspected (evs.suspect_timeout, 5 s by default).
    expect(f.outageMs).toBeGreaterThan(2000);
    expect(f.outageMs).toBeLessThan(30_000);
    expect(f.restoredMs).not.toBeNull();
    expect(f.recoveryConditionMs!).toBeGreaterThan(2000);
    expect(f.recoveryConditionMs!).toBeLessThan(90_000);
    const verify = d.steps.verify!.hosts;
    expect(verify.find((h) => h.host === 'ctl3')!.output).toMatch(/status=non-Primary/);
    expect(verify.find((h) => h.host === 'ctl3')!.output).toMatch(/ERROR 1047 .*WSREP has not yet prepared node for application use/);
    for (const h of ['ctl1', 'ctl2']) expect(verify.find((v) => v.host === h)!.output).toMatch(/size=2 status=Primary/);
    for (const h of result('ctl3-rejoined').hosts) expect(h.output).toMatch(/size=3 status=Primary state=Synced/);
  });

  it('after crashing all three, grastate.dat said unsafe, the positions were recovered and ctl1 bootstrapped alone', () => {
    for (const h of result('grastate-unsafe').hosts) {
      expect(h.output).toMatch(/^seqno:\s+-1$/m);
      expect(h.output).toMatch(/^safe_to_bootstrap: 0$/m);
    }
    const seqnos = result('recover-positions').hosts.map((h) => Number(/\(seqno (\d+)\)/.exec(h.output)![1]));
    expect(seqnos).toHaveLength(3);
    for (const n of seqnos) expect(n).toBeGreaterThan(0);
    const boot = result('bootstrap-again').hosts;
    expect(boot.filter((h) => h.verdict === 'passed').map((h) => h.host)).toEqual(['ctl1']);
    expect(boot.find((h) => h.host === 'ctl1')!.output).toMatch(/wsrep_cluster_status\s+Primary/);
    expect(result('start-others').hosts.filter((h) => h.verdict === 'passed').map((h) => h.host).sort()).toEqual(['ctl2', 'ctl3']);
    for (const h of result('cluster-whole-again').hosts) expect(h.output).toMatch(/size=3 status=Primary state=Synced/);
    for (const h of result('vip-serves-again').hosts) expect(h.output.trim()).toBe('ctl1');
  });
});
