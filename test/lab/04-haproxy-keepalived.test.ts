/**
 * Chapter 4 on the local lab, for real: every step the chapter marks
 * runnable, and the keepalived-killed drill with its measured failover.
 */
import { describe, expect, it } from 'vitest';
import { drillbook } from '../fixtures/cli.ts';

describe('chapter 4: HAProxy and Keepalived', () => {
  let doc: { ok: boolean; results: { step: { globalId: string }; verdict: string }[]; drills: { figures: Record<string, number | string | null>; samples: { ok: boolean }[]; verdict: string; message: string }[]; notRun: string[] };

  it('runs the whole chapter on the lab: deploy, verify, drill, recover', async () => {
    const r = await drillbook(['run', '4', '--confirm', 'local', '--json'], { timeoutMs: 900_000 });
    doc = JSON.parse(r.stdout);
    expect(doc.notRun).toEqual([]);
    expect(doc.results.filter((x) => x.verdict !== 'passed').map((x) => x.step.globalId)).toEqual([]);
    expect(doc.results.map((x) => x.step.globalId.split('/')[1])).toEqual(['install', 'backend', 'haproxy', 'keepalived', 'vip-held', 'vip-serves', 'vip-back']);
    expect(r.code, r.stderr).toBe(0);
    console.log(`chapter 4 drill keepalived-killed: ${doc.drills[0].message}`);
  }, 900_000);

  it('the drill saw the VIP move off ctl1, counted the failed probes and timed the recovery', () => {
    const [d] = doc.drills;
    expect(d.verdict).toBe('passed');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl1');
    expect(['ctl2', 'ctl3']).toContain(f.servedAfter);
    expect(f.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(f.failed as number).toBeGreaterThanOrEqual(1);
    expect(f.total as number).toBeGreaterThan(20);
    // Plausible for a clean handover (priority-0 advert): well under VRRP's 3-advert timeout plus slack.
    expect(f.outageMs as number).toBeGreaterThan(0);
    expect(f.outageMs as number).toBeLessThan(8000);
    expect(f.recoveryConditionMs as number).toBeGreaterThan(0);
    expect(f.recoveryConditionMs as number).toBeLessThan(15_000);
  });
});
