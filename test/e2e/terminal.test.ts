/**
 * End to end: Debian's Chromium, a server started with the terminal on, a
 * fleet of real sshd hosts. A chapter page loads no xterm code; a host chip
 * opens a terminal; typed commands run and their output is read back from
 * xterm's buffer; a large output keeps the page responsive; a reload
 * reattaches to the same shell; the lab page opens one on this machine.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../server/main.ts';
import { ARTIFACTS, launchBrowser } from '../fixtures/browser.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let server: RunningServer;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
const CHAPTER = '/chapters/01-cloud-computing-and-ha/';
/** A string only xterm.js's code contains. */
const XTERM_MARK = 'xterm-helper-textarea';

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'e2e-term' }), terminal: true, log: () => {} });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(server.url); // exchanges the token for the session cookie
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await fleet?.stopAll();
});

/** Every script and stylesheet the page has loaded, with its text. */
async function loadedCode(p: Page): Promise<{ url: string; text: string }[]> {
  return p.evaluate(async () => {
    const urls = performance
      .getEntriesByType('resource')
      .map((e) => e.name)
      .filter((u) => /\.(m?js|css)(\?|$)/.test(u));
    const inline = [...document.querySelectorAll('style')].map((s, i) => ({ url: `inline-style-${i}`, text: s.textContent ?? '' }));
    return [...(await Promise.all(urls.map(async (url) => ({ url, text: await (await fetch(url)).text() })))), ...inline];
  });
}

const bufferText = (p: Page, last?: number) => p.evaluate((n) => (document.querySelector('drillbook-terminal-dock') as unknown as { bufferText?: (n?: number) => string })?.bufferText?.(n) ?? '', last);

async function waitForBuffer(p: Page, re: RegExp, timeoutMs = 20_000): Promise<string> {
  let text = '';
  await expect.poll(async () => re.test((text = await bufferText(p))), { timeout: timeoutMs, interval: 100 }).toBe(true);
  return text;
}

describe('the browser terminal', () => {
  it('a chapter page loads no xterm code until a terminal opens', async () => {
    await page.goto(new URL(CHAPTER, server.url).href);
    const chip = page.locator('drillbook-step[data-step="01-cloud-computing-and-ha/nodes-answer"] .db-targets button[data-terminal-host="ctl1"]');
    await chip.waitFor();
    expect(await chip.getAttribute('title')).toBe('Open a terminal on ctl1 (127.0.0.1)');
    const code = await loadedCode(page);
    expect(code.length).toBeGreaterThan(3);
    expect(code.filter((c) => c.text.includes(XTERM_MARK)).map((c) => c.url)).toEqual([]);
    expect(code.some((c) => /drillbook-terminal-view/.test(c.url))).toBe(false);
    expect(await page.evaluate(() => customElements.get('drillbook-terminal-dock') === undefined)).toBe(true);
    expect(await page.locator('drillbook-terminal-dock').isHidden()).toBe(true);
  });

  it('opens a terminal from a host chip: type a command, read its output from the buffer', async () => {
    const chip = page.locator('drillbook-step[data-step="01-cloud-computing-and-ha/nodes-answer"] button[data-terminal-host="ctl1"]');
    await chip.click();
    const dock = page.locator('drillbook-terminal-dock');
    await dock.waitFor({ state: 'visible' });
    const tab = dock.locator('[role="tab"]');
    await expect.poll(() => tab.getAttribute('data-state')).toBe('open');
    expect(await tab.textContent()).toBe('ctl1');
    expect(await tab.getAttribute('aria-selected')).toBe('true');
    expect(await dock.locator('[role="tabpanel"]').getAttribute('aria-labelledby')).toBe(await tab.getAttribute('id'));
    expect(await dock.locator('.db-term-detail').textContent()).toMatch(/^drillbook-test@127\.0\.0\.1:\d+$/);
    // The xterm code and CSS arrived with it.
    const code = await loadedCode(page);
    expect(code.some((c) => /drillbook-terminal-view/.test(c.url) && c.text.includes(XTERM_MARK))).toBe(true);
    expect(code.some((c) => c.text.includes('.xterm-helper-textarea'))).toBe(true);

    await waitForBuffer(page, /\$ $/m);
    // The terminal has the focus: typing goes to the shell.
    await page.keyboard.type('echo hello-$((6*7))');
    await page.keyboard.press('Enter');
    const text = await waitForBuffer(page, /^hello-42$/m);
    expect(text).toContain('echo hello-$((6*7))');
    // The page size reached the PTY.
    const size = await page.evaluate(() => {
      const rows = document.querySelectorAll('.db-term-screen .xterm-rows > div').length;
      return rows;
    });
    await page.keyboard.type('echo "size-$(stty size | tr " " x)"');
    await page.keyboard.press('Enter');
    const sized = await waitForBuffer(page, /^size-\d+x\d+$/m);
    const [rows, cols] = /^size-(\d+)x(\d+)$/m.exec(sized)!.slice(1).map(Number);
    expect(rows).toBe(size);
    expect(cols).toBeGreaterThan(80);
  });

  it('streams a large output (seq 1 200000) with the page staying responsive', async () => {
    // In the page: the longest gap between animation frames while the output streams.
    await page.evaluate(() => {
      const w = window as unknown as { dbGaps: { max: number; frames: number; stop: boolean } };
      w.dbGaps = { max: 0, frames: 0, stop: false };
      let last = performance.now();
      const tick = (now: number) => {
        w.dbGaps.max = Math.max(w.dbGaps.max, now - last);
        w.dbGaps.frames++;
        last = now;
        if (!w.dbGaps.stop) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    await page.keyboard.type('seq 1 200000; echo "seq-$((1+1))-done"');
    const started = Date.now();
    await page.keyboard.press('Enter');
    // From here: page.evaluate round trips, while polling for the last line.
    const rtts: number[] = [];
    let text = '';
    for (let i = 0; ; i++) {
      const t0 = Date.now();
      await page.evaluate(() => document.querySelectorAll('[role="tab"]').length);
      rtts.push(Date.now() - t0);
      if (i % 5 === 4 && /^seq-2-done$/m.test((text = await bufferText(page, 40)))) break;
      if (Date.now() - started > 60_000) throw new Error(`no end of output after 60 s; last lines: ${text.slice(-300)}`);
      await new Promise((r) => setTimeout(r, 40));
    }
    const elapsed = Date.now() - started;
    const gaps = await page.evaluate(() => {
      const w = window as unknown as { dbGaps: { max: number; frames: number; stop: boolean } };
      w.dbGaps.stop = true;
      return w.dbGaps;
    });
    expect(text).toMatch(/^199999\n200000\nseq-2-done$/m);
    rtts.sort((a, b) => a - b);
    const report = `${elapsed} ms of output; evaluate round trips (ms): ${rtts.join(',')}; longest frame gap ${Math.round(gaps.max)} ms over ${gaps.frames} frames`;
    // A page round trip never waits long behind the terminal, and frames keep coming.
    // Round trips include this test process, which also runs the server, and the
    // machine may be shared with running labs: the bounds leave room for that,
    // while a page that froze under the output would show several seconds.
    expect(rtts[rtts.length - 1], report).toBeLessThan(1500);
    expect(rtts[Math.floor(rtts.length / 2)], report).toBeLessThan(250);
    expect(gaps.max, report).toBeLessThan(1000);
    expect(gaps.frames, report).toBeGreaterThan(elapsed / 200);
    console.log(report);
    await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-terminal.png') });
  });

  it('Shift+Esc leaves the terminal for its tab; the dock does not trap the keyboard', async () => {
    await page.locator('.db-term-screen').click();
    await page.keyboard.press('Shift+Escape');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => !!document.activeElement?.closest('.db-term-dock') && !document.activeElement?.closest('.xterm'))).toBe(true);
  });

  it('a reload reattaches to the same shell, with its scrollback', async () => {
    await page.locator('.db-term-screen').click();
    await page.keyboard.type('echo "pid-$$"');
    await page.keyboard.press('Enter');
    const before = await waitForBuffer(page, /^pid-\d+$/m);
    const pid = /^pid-(\d+)$/m.exec(before)![1];
    expect(server.terminals!.list()).toHaveLength(1);

    await page.reload();
    const tab = page.locator('drillbook-terminal-dock [role="tab"]');
    await expect.poll(() => tab.getAttribute('data-state'), { timeout: 20_000 }).toBe('open');
    expect(await page.locator('.db-term-status').textContent()).toBe('reattached');
    await waitForBuffer(page, new RegExp(`^pid-${pid}$`, 'm'));
    await page.locator('.db-term-screen').click();
    await page.keyboard.type('echo "again-$$"');
    await page.keyboard.press('Enter');
    await waitForBuffer(page, new RegExp(`^again-${pid}$`, 'm'));
    expect(server.terminals!.list()).toHaveLength(1);
  });

  it('closing the tab ends the shell and hides the dock', async () => {
    await page.locator('.db-term-close').click();
    await expect.poll(() => server.terminals!.list().length).toBe(0);
    expect(await page.locator('drillbook-terminal-dock').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('drillbook.terminals'))).toBeNull();
  });

  it('the lab panel opens a terminal on this machine (node-pty) and on a host', async () => {
    const lab = await browser.context.newPage();
    await lab.goto(new URL('/lab/', server.url).href);
    const local = lab.locator('drillbook-lab button[data-terminal="local"]');
    await local.waitFor();
    expect(await lab.locator('drillbook-lab .db-lab-terminals button').allTextContents()).toEqual(['this machine', 'ctl1', 'ctl2', 'ctl3']);
    await local.click();
    await expect.poll(() => lab.locator('drillbook-terminal-dock [role="tab"]').getAttribute('data-state')).toBe('open');
    await waitForBuffer(lab, /[$#] $/m);
    await lab.keyboard.type('echo local-$((2+3))');
    await lab.keyboard.press('Enter');
    await waitForBuffer(lab, /^local-5$/m);
    await lab.locator('drillbook-lab button[data-terminal="host"][data-host="ctl3"]').click();
    const tabs = lab.locator('drillbook-terminal-dock [role="tab"]');
    await expect.poll(() => tabs.count()).toBe(2);
    await expect.poll(() => tabs.nth(1).getAttribute('data-state')).toBe('open');
    expect(await tabs.allTextContents()).toEqual(['this machine', 'ctl3']);
    await waitForBuffer(lab, /\$ $/m);
    await lab.keyboard.type('hostname; echo "ssh-$((3*3))"');
    await lab.keyboard.press('Enter');
    await waitForBuffer(lab, /^ssh-9$/m);
    await lab.screenshot({ path: path.join(ARTIFACTS, 'e2e-terminal-lab.png') });
    // Arrow keys move between the tabs; closing one hands focus to the next.
    await tabs.nth(1).focus();
    await lab.keyboard.press('ArrowLeft');
    expect(await tabs.nth(0).getAttribute('aria-selected')).toBe('true');
    await lab.keyboard.press('Delete');
    await expect.poll(() => tabs.count()).toBe(1);
    expect(await lab.evaluate(() => document.activeElement?.textContent)).toBe('ctl3');
    await lab.locator('.db-term-close').click();
    await expect.poll(() => server.terminals!.list().length).toBe(0);
    // Focus went back to the button that opened it.
    expect(await lab.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.host)).toBe('ctl3');
    await lab.close();
  });
});

describe('with the terminal off', () => {
  it('host chips stay plain and no terminal button appears', async () => {
    const plain = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'e2e-noterm' }), log: () => {} });
    try {
      const p = await browser.context.newPage();
      await p.goto(plain.url);
      await p.goto(new URL(CHAPTER, plain.url).href);
      const step = p.locator('drillbook-step[data-step="01-cloud-computing-and-ha/nodes-answer"]');
      await step.locator('.db-run:not([disabled])').waitFor();
      expect(await step.locator('.db-targets .db-chip').allTextContents()).toEqual(['ctl1', 'ctl2', 'ctl3']);
      expect(await p.locator('button[data-terminal-host], button[data-terminal]').count()).toBe(0);
      expect((await loadedCode(p)).some((c) => c.text.includes(XTERM_MARK))).toBe(false);
      await p.close();
    } finally {
      await plain.close();
    }
  });
});
