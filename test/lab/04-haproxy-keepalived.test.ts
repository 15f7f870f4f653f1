/**
 * Chapter 4 on the local lab, for real: every step the chapter marks
 * runnable, and the keepalived-killed drill with its measured failover.
 */
import { describe, expect, it } from 'vitest';
import { runOnLab, type ChapterRun } from '../fixtures/lab.ts';

describe('chapter 4: HAProxy and Keepalived', () => {
  let doc: ChapterRun;

  it('runs the whole chapter on the lab: deploy, verify, drill, recover', async () => {
    const r = await runOnLab(['4']);
    doc = r.doc;
    expect(doc.notRun).toEqual([]);
    expect(doc.results.filter((x) => x.verdict !== 'passed').map((x) => x.step.globalId)).toEqual([]);
    expect(doc.results.map((x) => x.step.globalId.split('/')[1])).toEqual(['install', 'backend', 'haproxy', 'keepalived', 'vip-held', 'vip-serves', 'vip-back']);
    expect(r.code, r.stderr).toBe(0);
  }, 1_200_000);

  it('the drill saw the VIP move off ctl1, counted the failed probes and timed the recovery', () => {
    const [d] = doc.drills;
    expect(d.verdict).toBe('passed');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl1');
    expect(['ctl2', 'ctl3']).toContain(f.servedAfter);
    expect(f.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(f.failed).toBeGreaterThanOrEqual(1);
    expect(f.total).toBeGreaterThan(20);
    // Plausible for a clean handover (priority-0 advert): well under VRRP's 3-advert timeout plus slack.
    expect(f.outageMs).toBeGreaterThan(0);
    expect(f.outageMs).toBeLessThan(8000);
    expect(f.recoveryConditionMs).toBeGreaterThan(0);
    expect(f.recoveryConditionMs!).toBeLessThan(15_000);
  });
});
