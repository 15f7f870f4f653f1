/**
 * Chapter 3 on the local lab, for real: the three-node Pacemaker cluster is
 * built, verified and drilled three ways (standby, a killed service, a node
 * cut off the Corosync network), and each drill's figures must show the
 * failover the chapter describes. Steps marked needs="vm" (fencing, kernel
 * panic) must not run on the local lab.
 */
import { describe, expect, it } from 'vitest';
import { loadManifest, prerequisiteSteps } from '../../src/runbook/manifest.ts';
import { startServer } from '../../server/main.ts';
import { launchBrowser } from '../fixtures/browser.ts';
import { expectWholeChapter, runOnLab, TEST_LAB, type ChapterRun } from '../fixtures/lab.ts';

const NODES = ['ctl1', 'ctl2', 'ctl3'];
const chapter = loadManifest().chapters.find((c) => c.frontmatter.chapter === 3)!;
const vmSteps = new Set(chapter.steps.filter((s) => s.needs === 'vm').map((s) => s.id));
/** The steps a whole-chapter run executes on the local lab, in page order (drills report separately). */
const LAB_STEPS = ['install', 'pcsd', 'drop-default-cluster', 'auth', 'setup', 'quorate', 'links', 'properties', 'web-unit', 'resources', 'config-valid', 'vip-serves', 'move-home', 'move-home-after-power-cut', 'fence-agents'];

type DrillRun = ChapterRun['drills'][number];

describe('chapter 3: Pacemaker', () => {
  let doc: ChapterRun;
  const drill = (id: string): DrillRun => {
    const d = doc.drills.find((x) => x.drill.globalId === `${chapter.slug}/${id}`);
    expect(d, `drill ${id} ran`).toBeDefined();
    return d!;
  };
  /** Common sense for every drill: it passed, the probe ran throughout and its failures are counted from the samples. */
  const plausible = (d: DrillRun) => {
    expect(d.verdict, d.message).toBe('passed');
    expect(d.figures.total).toBe(d.samples.length);
    expect(d.figures.total).toBeGreaterThan(20);
    expect(d.figures.failed).toBe(d.samples.filter((s) => !s.ok).length);
    expect(NODES).toContain(d.figures.servedBefore);
    expect(NODES).toContain(d.figures.servedAfter);
    expect(d.figures.recoveryConditionMs).not.toBeNull();
  };

  it('the chapter marks fencing and the kernel panic as needing real VMs', () => {
    expect([...vmSteps].sort()).toEqual(['after-panic', 'ctl3-fenced-and-back', 'fence-ctl3', 'fence-devices', 'fence-reachable', 'fenced-then-moved', 'panic-holder']);
    expect(chapter.drills.map((d) => d.id)).toEqual(['standby', 'web-killed', 'partition', 'node-power-cut']);
    expect(chapter.steps.filter((s) => !s.drill && s.needs !== 'vm').map((s) => s.id)).toEqual(LAB_STEPS);
  });

  it("prepares the lab for this chapter from the page: chapter 1's deploy and verify steps, all passed, in order", async () => {
    const m = loadManifest();
    const expected = prerequisiteSteps(m, chapter).map((s) => s.globalId);
    expect(expected.every((id) => id.startsWith('01-'))).toBe(true);
    const server = await startServer({ port: 0, lab: TEST_LAB });
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(server.url);
      await page.goto(new URL(`/chapters/${chapter.slug}/`, server.url).href);
      const prep = page.locator(`drillbook-prepare[data-chapter="${chapter.slug}"]`);
      await prep.locator('summary').click();
      await prep.locator('.db-prepare-run:not([disabled])').waitFor({ timeout: 20_000 });
      await prep.locator('.db-prepare-run').click();
      await expect.poll(() => prep.getAttribute('data-state'), { timeout: 300_000, interval: 500 }).not.toBe('running');
      expect(await prep.locator('.db-prepare-status').textContent()).toBe(`Ready: ${expected.length} of ${expected.length} steps passed. The lab is where this chapter starts.`);
      expect(await prep.locator('li[data-step] .db-chip').allTextContents()).toEqual(expected.map(() => 'passed'));
      expect(await prep.locator('.db-prepare-log').isHidden()).toBe(true);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 400_000);

  it('runs the whole chapter on the lab: deploy, verify, four drills, recover', async () => {
    const r = await runOnLab(['3']);
    doc = r.doc;
    expectWholeChapter(r, { vmSteps, labSteps: LAB_STEPS, drills: ['standby', 'web-killed', 'partition', 'node-power-cut'] });
  }, 1_200_000);

  it('the cluster came up with three voting members and the group answering on the VIP', () => {
    const quorate = doc.results.find((x) => x.step.globalId.endsWith('/quorate'))!;
    expect(quorate.hosts.map((h) => h.host)).toEqual(NODES);
    for (const h of quorate.hosts) expect(h.output).toMatch(/Quorate:\s+Yes[\s\S]*Total votes:\s+3/);
    const serves = doc.results.find((x) => x.step.globalId.endsWith('/vip-serves'))!;
    const answers = serves.hosts.map((h) => /answered '(ctl\d)'/.exec(h.output)?.[1]);
    expect(new Set(answers).size).toBe(1);
    expect(NODES).toContain(answers[0]);
  });

  it('standby: the group moved to another node, with a short outage while it stopped and started', () => {
    const d = drill('standby');
    plausible(d);
    const f = d.figures;
    expect(f.servedAfter).not.toBe(f.servedBefore);
    // Even a planned move stops and starts the group: some probes fail, for seconds, not tens of seconds.
    expect(f.failed).toBeGreaterThanOrEqual(1);
    expect(f.outageMs).toBeGreaterThan(0);
    expect(f.outageMs).toBeLessThan(15_000);
    expect(f.restoredMs).not.toBeNull();
    expect(f.recoveryConditionMs!).toBeLessThan(30_000);
  });

  it('web killed: the monitor noticed and restarted the service on the same node', () => {
    const d = drill('web-killed');
    plausible(d);
    const f = d.figures;
    expect(f.servedAfter).toBe(f.servedBefore);
    // SIGKILL stops the answers at once; the 5 s monitor and the restart bring them back.
    expect(f.failed).toBeGreaterThanOrEqual(1);
    expect(f.firstFailureMs).not.toBeNull();
    expect(f.firstFailureMs!).toBeLessThan(3_000);
    expect(f.outageMs).toBeGreaterThan(0);
    expect(f.outageMs).toBeLessThan(15_000);
    expect(f.recoveryConditionMs!).toBeLessThan(30_000);
    // The recovery condition read a fail count of at least 1 on the node that serves again.
    const verify = d.steps.verify;
    expect(verify?.hosts.filter((h) => h.verdict === 'passed').map((h) => h.output).join('\n')).toMatch(/serves again; fail-count-web=[1-9]/);
  });

  it('partition: the cut-off node kept serving until the membership changed, then the quorate side took over', () => {
    const d = drill('partition');
    plausible(d);
    const f = d.figures;
    expect(f.servedAfter).not.toBe(f.servedBefore);
    // Nothing can happen before Corosync declares the node lost (token 3.65 s + consensus 4.38 s for three nodes):
    // in the first 5 s the old holder still answers nearly every probe.
    const early = d.samples.filter((s) => s.t >= 0 && s.t < 5_000);
    expect(early.length).toBeGreaterThan(10);
    expect(early.filter((s) => s.ok && s.backend === f.servedBefore).length / early.length).toBeGreaterThan(0.8);
    if (f.firstFailureMs !== null) expect(f.firstFailureMs).toBeGreaterThan(5_000);
    // ...and the recovery condition (a quorate node serves, the cut-off node no longer holds the VIP) cannot hold sooner.
    expect(f.recoveryConditionMs!).toBeGreaterThan(6_000);
    expect(f.recoveryConditionMs!).toBeLessThan(60_000);
    expect(f.outageMs).toBeLessThan(15_000);
  });

  it('power cut: every request failed until Corosync gave the node up and the group started on a survivor', () => {
    const d = drill('node-power-cut');
    plausible(d);
    const f = d.figures;
    expect(d.steps.break?.hosts[0]).toMatchObject({ host: 'local', verdict: 'passed' });
    expect(d.steps.break?.hosts[0].output).toMatch(/ctl1 crashed \(its PID 1 was killed\)/);
    expect(f.servedBefore).toBe('ctl1');
    expect(['ctl2', 'ctl3']).toContain(f.servedAfter);
    // Token timeout (3.65 s) plus consensus (4.38 s) before anything moves, then the group's start:
    // one continuous outage of several seconds, longer than the standby's planned move.
    expect(f.outageMs).toBeGreaterThan(5_000);
    expect(f.outageMs).toBeLessThan(30_000);
    expect(f.outageMs).toBeGreaterThan(drill('standby').figures.outageMs);
    expect(d.steps.verify?.hosts.find((h) => h.verdict === 'passed')?.output).toMatch(/holds 10\.77\.0\.99 and serves; total votes: 2/);
    expect(d.steps.recover?.hosts[0].output).toMatch(/ctl1 is back/);
    // Afterwards ctl1 rejoined and the group went home.
    const home = doc.results.find((x) => x.step.globalId.endsWith('/move-home-after-power-cut'))!;
    expect(home.hosts[0].output).toMatch(/Total votes: +3/);
    expect(home.hosts[0].output).toMatch(/resource webgroup is running on: ctl1/);
  });
});
