/**
 * Chapter 4 on the local lab, for real: every step the chapter marks
 * runnable, and the keepalived-killed drill with its measured failover.
 */
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { startServer } from '../../server/main.ts';
import { ARTIFACTS, launchBrowser } from '../fixtures/browser.ts';
import { runOnLab, TEST_LAB, type ChapterRun } from '../fixtures/lab.ts';

describe('chapter 4: HAProxy and Keepalived', () => {
  let doc: ChapterRun;

  it('runs the whole chapter on the lab: deploy, verify, drill, recover', async () => {
    const r = await runOnLab(['4']);
    doc = r.doc;
    expect(doc.notRun).toEqual([]);
    expect(doc.results.filter((x) => x.verdict !== 'passed').map((x) => x.step.globalId)).toEqual(['04-haproxy-and-keepalived/crash-holder']);
    expect(doc.results.map((x) => x.step.globalId.split('/')[1])).toEqual(['install', 'backend', 'haproxy', 'keepalived', 'vip-held', 'vip-serves', 'vip-back', 'vip-back-after-haproxy', 'vip-back-after-link', 'vip-back-after-power-cut', 'crash-holder']);
    expect(doc.results.at(-1)!.verdict).toBe('skipped');
    expect(doc.drills.map((d) => d.drill.globalId.split('/')[1])).toEqual(['keepalived-killed', 'haproxy-stopped', 'link-down', 'split-brain', 'holder-power-cut']);
    for (const d of doc.drills) expect(d.verdict, d.drill.globalId).toBe('passed');
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

  const drill = (id: string) => doc.drills.find((d) => d.drill.globalId.endsWith(`/${id}`))!;

  it('stopping HAProxy moves the VIP only after the track script failed twice', () => {
    const d = drill('haproxy-stopped');
    const f = d.figures;
    expect(d.steps.break?.hosts.map((h) => h.output).join('')).toMatch(/^ctl1: haproxy stopped; Keepalived still runs/);
    expect(f.servedBefore).toBe('ctl1');
    expect(f.servedAfter).toBe('ctl2');
    // Refused from the first request after the stop, until chk_haproxy (interval 1, fall 2) gave the VIP up.
    expect(f.firstFailureMs!).toBeLessThan(1000);
    expect(f.failed).toBeGreaterThanOrEqual(3);
    expect(f.outageMs).toBeGreaterThan(1000);
    expect(f.outageMs).toBeLessThan(8000);
  });

  it("a dead link costs VRRP's dead timer: slower than the clean handover of a dying Keepalived", () => {
    const d = drill('link-down');
    const f = d.figures;
    expect(f.servedBefore).toBe('ctl1');
    expect(f.servedAfter).toBe('ctl2');
    expect(f.failed).toBeGreaterThanOrEqual(3);
    // Three missed adverts (advert_int 1) plus ctl2's skew: about 3.6 s after the link went down at 0.3 s.
    expect(f.recoveryConditionMs!).toBeGreaterThan(2500);
    expect(f.recoveryConditionMs!).toBeLessThan(10_000);
    expect(f.recoveryConditionMs!).toBeGreaterThan(drill('keepalived-killed').figures.recoveryConditionMs!);
    expect(d.steps.recover?.hosts[0].output).toMatch(/ctl1 holds 10\.77\.0\.100 again/);
  });

  it('blocking VRRP on a backup makes two masters; the higher priority keeps the traffic and wins when VRRP returns', () => {
    const d = drill('split-brain');
    const out = d.steps.break!.hosts[0].output;
    // ctl2 held the VIP while ctl1's adverts (priority 150) were still on the wire: two masters at once.
    expect(out).toMatch(/^ctl2 holds 10\.77\.0\.100 too:\n.*inet 10\.77\.0\.100\//m);
    expect(out).toMatch(/IP 10\.77\.0\.11 > 224\.0\.0\.18: VRRPv2, Advertisement, vrid 51, prio 150/);
    expect(out).toMatch(/VRRP unblocked on ctl2/);
    expect(d.figures.servedAfter).toBe('ctl1');
    expect(d.figures.failed).toBeLessThanOrEqual(2);
    expect(d.steps.recover?.hosts[0].output).toMatch(/INPUT has 0 VRRP rules/);
  });

  it("a power cut, made from outside through the lab, looks to the other nodes like the dead link: VRRP's dead timer", () => {
    const d = drill('holder-power-cut');
    const f = d.figures;
    expect(d.steps.break?.hosts[0]).toMatchObject({ host: 'local', verdict: 'passed' });
    expect(d.steps.break?.hosts[0].output).toMatch(/ctl1 crashed \(its PID 1 was killed\)/);
    expect(f.servedBefore).toBe('ctl1');
    expect(f.servedAfter).toBe('ctl2');
    expect(f.failed).toBeGreaterThanOrEqual(3);
    expect(f.outageMs).toBeGreaterThan(1500);
    expect(f.outageMs).toBeLessThan(10_000);
    expect(d.steps.recover?.hosts[0].output).toMatch(/ctl1 is back/);
  });

  it('runs the drill from the page: the cluster map, the timeline chart and the figures appear', async () => {
    const server = await startServer({ port: 0, lab: TEST_LAB });
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(server.url);
      await page.goto(new URL('/chapters/04-haproxy-and-keepalived/', server.url).href);
      const map = page.locator('drillbook-map[data-map="04-haproxy-and-keepalived/vip-map"]');
      await expect.poll(() => map.locator('.db-map-node[data-vip]').getAttribute('data-host'), { timeout: 20_000 }).toBe('ctl1');
      const drill = page.locator('drillbook-drill[data-drill="04-haproxy-and-keepalived/keepalived-killed"]');
      await drill.locator('.db-drill-run:not([disabled])').waitFor({ timeout: 20_000 });
      await drill.locator('.db-drill-run').click();
      await page.locator('dialog.db-dialog input').fill(TEST_LAB);
      await page.locator('dialog.db-dialog button[value="run"]').click();
      // While it runs, the map sees the VIP leave ctl1.
      await expect.poll(() => map.locator('.db-map-node[data-vip]').getAttribute('data-host'), { timeout: 30_000, interval: 250 }).not.toBe('ctl1');
      await expect.poll(() => drill.locator('.db-drill-caption').textContent(), { timeout: 90_000 }).toMatch(/^This run: /);
      expect(await drill.locator('.db-drill-result').getAttribute('data-verdict')).toBe('passed');
      const samples = drill.locator('svg.db-timeline [data-ok]');
      expect(await samples.count()).toBeGreaterThan(20);
      expect(await drill.locator('svg.db-timeline [data-ok="false"]').count()).toBeGreaterThanOrEqual(1);
      expect(await drill.locator('svg.db-timeline').getAttribute('role')).toBe('img');
      expect(await drill.locator('svg.db-timeline desc').textContent()).toMatch(/outage/i);
      expect(await drill.locator('[data-figure="servedBefore"]').textContent()).toBe('ctl1');
      expect(await drill.locator('[data-figure="outageMs"]').textContent()).toMatch(/\d/);
      await drill.scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(ARTIFACTS, 'lab-drill-keepalived.png'), fullPage: false });
      // The recover step put the VIP back on ctl1.
      await expect.poll(() => map.locator('.db-map-node[data-vip]').getAttribute('data-host'), { timeout: 30_000 }).toBe('ctl1');
    } finally {
      await browser.close();
      await server.close();
    }
  }, 240_000);
});
