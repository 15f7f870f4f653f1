/**
 * End to end: Debian's Chromium opens chapter 1 through `drillbook serve`,
 * clicks Run, and sees per-host output streamed in and the verdict.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../server/main.ts';
import { chapterItems, findChapter, loadManifest, prerequisiteSteps } from '../../src/runbook/manifest.ts';
import { ARTIFACTS, launchBrowser } from '../fixtures/browser.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let server: RunningServer;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
const CHAPTER = '/chapters/01-cloud-computing-and-ha/';
const prerequisites = (slug: string) => {
  const m = loadManifest();
  return prerequisiteSteps(m, findChapter(m, slug)!).map((s) => s.globalId);
};

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'e2e-lab' }) });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  const offHost: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(`http://127.0.0.1:${server.port}/`) && !r.url().startsWith('ws://127.0.0.1') && !r.url().startsWith('data:')) offHost.push(r.url());
  });
  (page as unknown as { offHost: string[] }).offHost = offHost;
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await fleet?.stopAll();
});

describe('a chapter page with a runner', () => {
  it('runs a step from the page: streamed per-host output and the verdict', async () => {
    await page.goto(server.url); // exchanges the token for the session cookie
    await page.goto(new URL(CHAPTER, server.url).href);
    await expect.poll(() => page.locator('.db-target-name').textContent()).toMatch(/e2e-lab \(lab, 3 hosts\)/);

    const step = page.locator('drillbook-step[data-step="01-cloud-computing-and-ha/nodes-answer"]');
    await step.locator('.db-run:not([disabled])').waitFor();
    // Host chips and the variables filled in from the plan.
    expect(await step.locator('.db-targets .db-chip').allTextContents()).toEqual(['ctl1', 'ctl2', 'ctl3']);
    expect(await step.locator('.db-var[data-var="host_address"]').textContent()).toBe('127.0.0.1');
    expect(await step.locator('.db-var[data-var="host"]').getAttribute('data-filled')).toBe('per-host');

    await step.locator('.db-run').click();
    await step.locator('.db-verdict[data-verdict="passed"]').waitFor({ timeout: 20_000 });
    expect(await step.locator('.db-verdict').textContent()).toMatch(/✔ passed · passed on 3 of 3 hosts/);
    // Different output per host: one pane each.
    const panes = step.locator('.db-pane');
    expect(await panes.count()).toBe(3);
    expect(await panes.nth(1).locator('.db-out').textContent()).toMatch(/^ctl2 answers as .* at 127\.0\.0\.1\n$/);
    expect(await panes.nth(1).locator('.db-chip').textContent()).toMatch(/^ctl2 · passed · exit 0 · \d+/);
    await step.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-chapter-run.png') });
  });

  it('groups hosts whose output is identical into one pane', async () => {
    const step = page.locator('drillbook-step[data-step="01-cloud-computing-and-ha/os-release"]');
    await step.locator('.db-run').click();
    await step.locator('.db-verdict[data-verdict="passed"]').waitFor({ timeout: 20_000 });
    expect(await step.locator('.db-pane').count()).toBe(1);
    expect(await step.locator('.db-pane .db-chip').count()).toBe(3);
    expect(await step.locator('.db-pane .db-out').textContent()).toBe('Debian GNU/Linux 12 (bookworm)\n');
    await step.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-chapter-grouped.png') });
  });

  it('remembers progress across a server restart: last verdicts, the sidebar count', async () => {
    // A new server process on the same state directory: the history is in SQLite.
    const again = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'e2e-lab' }) });
    try {
      const p = await browser.context.newPage();
      await p.goto(again.url);
      await p.goto(new URL(CHAPTER, again.url).href);
      const badge = p.locator('drillbook-step[data-step="01-cloud-computing-and-ha/os-release"] .db-last');
      await expect.poll(() => badge.textContent(), { timeout: 15_000 }).toMatch(/^last run: passed, \d+ s ago$/);
      const items = chapterItems(findChapter(loadManifest(), '1')!).length;
      await expect.poll(() => p.locator('nav a[href="/chapters/01-cloud-computing-and-ha/"] .db-progress').textContent(), { timeout: 15_000 }).toBe(` 2/${items}`);
      await p.close();
    } finally {
      await again.close();
    }
  });

  it('shows an unreachable host as a distinct result on the page', async () => {
    await fleet.hosts[2].stop();
    const fresh = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'e2e-down' }) });
    try {
      const p = await browser.context.newPage();
      await p.goto(fresh.url);
      await p.goto(new URL(CHAPTER, fresh.url).href);
      const step = p.locator('drillbook-step[data-step="01-cloud-computing-and-ha/os-release"]');
      await step.locator('.db-run:not([disabled])').waitFor();
      await step.locator('.db-run').click();
      await step.locator('.db-verdict[data-verdict="unreachable"]').waitFor({ timeout: 20_000 });
      expect(await step.locator('.db-chip[data-verdict="unreachable"]').first().textContent()).toMatch(/ctl3 · unreachable/);
      expect(await step.locator('.db-why').textContent()).toMatch(/ctl3: cannot reach 127\.0\.0\.1:\d+: connection refused/);
      await p.close();
    } finally {
      await fresh.close();
      await fleet.hosts[2].start();
    }
  });

  it('prepares the lab for a later chapter from its page, and stops at the first step that fails, with its output', async () => {
    // Chapter 3 builds on chapter 1. On these hosts the SSH user is not root,
    // so chapter 1's checks pass and its first apt-get install fails: the
    // preparation must stop there and run nothing after it.
    await page.goto(server.freshUrl()); // a fresh login: earlier tests restarted the server
    await page.goto(new URL('/chapters/03-pacemaker/', server.url).href);
    const prep = page.locator('drillbook-prepare[data-chapter="03-pacemaker"]');
    await prep.locator('summary').click();
    const steps = prep.locator('li[data-step]');
    const ids = await steps.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.step));
    expect(ids).toEqual(prerequisites('03-pacemaker'));
    await prep.locator('.db-prepare-run:not([disabled])').waitFor();
    expect(await prep.locator('.db-prepare-status').textContent()).toBe('Target: e2e-lab');
    await prep.locator('.db-prepare-run').click();
    await expect.poll(() => prep.getAttribute('data-state'), { timeout: 30_000 }).toBe('failed');
    expect(await prep.locator('.db-prepare-status').textContent()).toMatch(/^Stopped at 01-cloud-computing-and-ha\/toolbox: 2 of \d+ steps passed$/);
    const chips = await steps.locator('.db-chip').allTextContents();
    expect(chips.slice(0, 3)).toEqual(['passed', 'passed', 'failed']);
    expect(chips.slice(3).every((t) => t === 'to do')).toBe(true);
    const log = prep.locator('.db-prepare-log');
    expect(await log.isVisible()).toBe(true);
    expect(await log.textContent()).toMatch(/ctl1: failed: exit code 100[\s\S]*(Permission denied|are you root)/);
    expect(await prep.locator('.db-prepare-run').isDisabled()).toBe(false);
    await prep.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-prepare-stopped.png') });
  });

  it('sends no request off this machine', () => {
    expect((page as unknown as { offHost: string[] }).offHost).toEqual([]);
  });
});

describe('a chapter page without a runner', () => {
  it('reads as documentation: code is there, Run is disabled, a quiet notice says why', async () => {
    const context = browser.context;
    await context.clearCookies();
    const p = await context.newPage();
    await p.goto(new URL(CHAPTER, server.url.replace(/\?token=.*/, '')).href);
    const step = p.locator('drillbook-step').first();
    await expect.poll(() => step.locator('.db-status').textContent()).toMatch(/Runner not connected/);
    expect(await step.locator('.db-run').isDisabled()).toBe(true);
    expect(await step.locator('.expressive-code').textContent()).toContain('answers as $(hostname)');
    expect(await step.locator('.expressive-code button.copy, .expressive-code .copy button').count()).toBeGreaterThan(0);
    await p.close();
  });
});
