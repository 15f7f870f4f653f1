/**
 * Chapter 2 on the local lab: the miniature API tier (three copies behind
 * one HAProxy), the listener inventory, and the two drills whose contrast
 * is the chapter's point: a lost API copy costs no request, a lost load
 * balancer costs every request until systemd restarts it.
 */
import { describe, expect, it } from 'vitest';
import { runOnLab, type ChapterRun } from '../fixtures/lab.ts';

describe('chapter 2: OpenStack HA architecture', () => {
  let doc: ChapterRun;

  it('runs the whole chapter on the lab; the step that needs a real cloud is skipped, not run', async () => {
    const r = await runOnLab(['2']);
    doc = r.doc;
    expect(r.code, r.stderr).toBe(0);
    expect(doc.notRun).toEqual([]);
    const byId = Object.fromEntries(doc.results.map((x) => [x.step.globalId.split('/')[1], x]));
    expect(Object.keys(byId)).toEqual(['api', 'lb', 'lb-spreads', 'listeners', 'endpoints-on-vip', 'ctl2-back', 'remove-miniature']);
    for (const [id, x] of Object.entries(byId)) expect(x.verdict, id).toBe(id === 'endpoints-on-vip' ? 'skipped' : 'passed');
    expect(byId['endpoints-on-vip'].hosts[0].attempts).toBe(0);
    // Round robin reached every copy, twice each.
    expect(byId['lb-spreads'].hosts[0].output).toMatch(/^\s+2 ctl1\n\s+2 ctl2\n\s+2 ctl3\n$/);
    // The inventory labels the miniature's two halves by class and address kind.
    const ctl1 = byId.listeners.hosts.find((h) => h.host === 'ctl1')!.output;
    expect(ctl1).toMatch(/^10\.77\.0\.11:5000 +python3 +stateless API: .*; node address$/m);
    expect(ctl1).toMatch(/^10\.77\.0\.11:8080 +haproxy +load balancer; node address$/m);
    expect(ctl1).toMatch(/:22 +sshd +management \(sshd\); every address$/m);
    const ctl2 = byId.listeners.hosts.find((h) => h.host === 'ctl2')!.output;
    expect(ctl2).not.toMatch(/haproxy/);
    // HAProxy counted the requests it sent to the stopped copy and redispatched.
    expect(byId['ctl2-back'].hosts[0].output).toMatch(/^ctl2 UP, \d+ retried, [1-9]\d* redispatched$/m);
    // The clean-up removed what the chapter added, on every node.
    expect(byId['remove-miniature'].hosts.map((h) => h.output).join('')).toMatch(/ctl1: lab-lb removed/);
    expect(byId['remove-miniature'].hosts.filter((h) => /lab-api removed/.test(h.output))).toHaveLength(3);
  }, 600_000);

  it('losing one API copy costs no request: retries go to the other copies, and HAProxy stops sending to ctl2', () => {
    const d = doc.drills.find((x) => x.drill.globalId.endsWith('/api-copy-lost'))!;
    expect(d.verdict).toBe('passed');
    expect(d.figures.failed).toBe(0);
    expect(d.figures.total).toBeGreaterThan(20);
    // Two failed checks at a 1 s interval: the verdict comes after about 1-2 s, never instantly.
    expect(d.figures.recoveryConditionMs).toBeGreaterThan(300);
    expect(d.figures.recoveryConditionMs!).toBeLessThan(8000);
    // Every copy served during the baseline; none of the answers after the verdict came from ctl2.
    expect(new Set(d.samples.filter((s) => s.t < 0).map((s) => s.backend))).toEqual(new Set(['ctl1', 'ctl2', 'ctl3']));
    const after = d.samples.filter((s) => s.t > d.figures.recoveryConditionMs!);
    expect(after.length).toBeGreaterThan(5);
    expect(after.map((s) => s.backend)).not.toContain('ctl2');
    expect(d.figures.servedBefore).toBe('ctl1,ctl2,ctl3');
    expect(d.figures.servedAfter).toBe('ctl1,ctl3');
  });

  it('losing the load balancer costs every request until systemd restarts it, although every copy still answers', () => {
    const d = doc.drills.find((x) => x.drill.globalId.endsWith('/lb-lost'))!;
    expect(d.verdict).toBe('passed');
    const f = d.figures;
    // RestartSec=2 plus HAProxy's start: a little over 2 s, far below the drill's limit.
    expect(f.outageMs).toBeGreaterThanOrEqual(1500);
    expect(f.servedAfter).toBe('ctl1,ctl2,ctl3');
    expect(f.outageMs).toBeLessThan(6000);
    expect(f.failed).toBeGreaterThanOrEqual(5);
    expect(f.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(d.steps.break?.hosts[0].output).toMatch(/ctl1:5000 still answers directly: ctl1\nctl2:5000 still answers directly: ctl2\nctl3:5000 still answers directly: ctl3/);
  });
});
