/**
 * "Prepare the lab for this chapter" over the WebSocket, against real sshd
 * hosts: the server runs the deploy and verify steps of the chapters a
 * chapter builds on (never a break, never a VM-only step), in book order,
 * stops at the first failure, can be cancelled, asks for a confirmation when
 * a step needs one, and runs the same list as `run --from-scratch`.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { step, writeChapters } from '../fixtures/chapters.ts';
import { partOfChapter } from '../../src/runbook/schema.ts';
import { drillbook } from '../fixtures/cli.ts';
import { openClient } from '../fixtures/session.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let server: RunningServer;
let inventory: string;
const saved = process.env.DRILLBOOK_CHAPTERS_DIR;
const marker = `sleep 4${process.pid % 100}7`;

const fm = (n: number, buildsOn: number[]) => `---\nchapter: ${n}\ntitle: Fixture ${n}\npart: ${partOfChapter(n)}\nsummary: Test chapter ${n}.\nlab: infra3\nbuildsOn: [${buildsOn.join(', ')}]\n---\n`;

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1', 'ctl2']);
  process.env.DRILLBOOK_CHAPTERS_DIR = writeChapters({
    '01-base.mdx':
      fm(1, []) +
      step('id="install" title="Install" on="controllers"', 'echo "installed on {{host}}"') +
      step('id="vm-only" title="Needs a VM" on="ctl1" needs="vm"', 'echo never') +
      step('id="check" title="Check" on="ctl2"', 'echo checked', 'Verify') +
      step('id="boom" title="Break something" on="ctl1"', 'echo broken', 'Break'),
    '02-middle.mdx': fm(2, [1]) + step('id="configure" title="Configure" on="ctl1"', 'echo configured'),
    '03-top.mdx': fm(3, [2]) + step('id="use" title="Use" on="ctl1"', 'echo used'),
    '04-broken.mdx': fm(4, []) + step('id="bad" title="Fails" on="ctl1"', 'echo "about to fail"; exit 3') + step('id="after" title="After the failure" on="ctl1"', 'echo after'),
    '05-on-broken.mdx': fm(5, [4]) + step('id="x" title="X" on="ctl1"', 'echo x'),
    '06-slow.mdx': fm(6, []) + step('id="slow" title="Slow" on="ctl1"', `echo started; ${marker}`) + step('id="later" title="Later" on="ctl1"', 'echo later'),
    '07-on-slow.mdx': fm(7, [6]) + step('id="y" title="Y" on="ctl1"', 'echo y'),
    '08-careful.mdx': fm(8, []) + step('id="careful" title="Careful" on="ctl1" confirm', 'echo careful'),
    '09-on-careful.mdx': fm(9, [8]) + step('id="z" title="Z" on="ctl1"', 'echo z'),
  });
  inventory = fleet.writeInventory({ name: 'preptest' });
  server = await startServer({ port: 0, inventory });
});
afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  if (saved === undefined) delete process.env.DRILLBOOK_CHAPTERS_DIR;
  else process.env.DRILLBOOK_CHAPTERS_DIR = saved;
});

describe('prepare a chapter over the WebSocket', () => {
  it('runs the deploy and verify steps of every chapter it builds on, directly or not, in book order', async () => {
    const c = await openClient(server);
    c.send({ type: 'prepare', id: 'p1', chapter: '03-top' });
    const plan = await c.waitFor((m) => m.id === 'p1' && m.type === 'prepare-plan');
    expect(plan.inventory).toBe('preptest');
    // Not the break, not the VM-only step, not chapter 3's own step.
    expect(plan.steps.map((s: { step: string }) => s.step)).toEqual(['01-base/install', '01-base/check', '02-middle/configure']);
    expect(plan.steps[0].hosts).toEqual(['ctl1', 'ctl2']);
    const done = await c.waitFor((m) => m.id === 'p1' && m.type === 'prepare-done');
    expect(done).toMatchObject({ ok: true, passed: 3, total: 3, cancelled: false });
    const starts = c.messages.filter((m) => m.id === 'p1' && m.event?.type === 'start').map((m) => m.event.step);
    expect(starts).toEqual(['01-base/install', '01-base/check', '02-middle/configure']);
    const out = c.messages.filter((m) => m.id === 'p1' && m.event?.type === 'output').map((m) => `${m.event.host}:${m.event.text}`);
    expect(out).toEqual(expect.arrayContaining(['ctl1:installed on ctl1\n', 'ctl2:installed on ctl2\n', 'ctl2:checked\n', 'ctl1:configured\n']));
    expect(out.join('')).not.toMatch(/broken|never/);
    c.close();
  });

  it('is the same list as `drillbook run NN --from-scratch`', async () => {
    const r = await drillbook(['run', '03', '--from-scratch', '--dry-run', '--json', '--inventory', inventory]);
    expect(r.code, r.stderr).toBe(0);
    const cli = (JSON.parse(r.stdout) as { steps: { step: string }[] }).steps.map((x) => x.step).filter((s) => !s.startsWith('03-top/'));
    expect(cli).toEqual(['01-base/install', '01-base/check', '02-middle/configure']);
  });

  it('records each step in the history as a run from the page', async () => {
    const r = await drillbook(['history', 'list', '--json']);
    const runs = JSON.parse(r.stdout) as { item: string; source: string; verdict: string }[];
    const mine = runs.filter((x) => x.item === '02-middle/configure');
    expect(mine.length).toBeGreaterThanOrEqual(1);
    expect(mine[0]).toMatchObject({ source: 'page', verdict: 'passed' });
  });

  it('stops at the first step that fails, says which, and runs nothing after it', async () => {
    const c = await openClient(server);
    c.send({ type: 'prepare', id: 'p2', chapter: '05-on-broken' });
    const done = await c.waitFor((m) => m.id === 'p2' && m.type === 'prepare-done');
    expect(done).toMatchObject({ ok: false, passed: 0, total: 2, stoppedAt: '04-broken/bad', cancelled: false });
    const results = c.messages.filter((m) => m.id === 'p2' && m.event?.type === 'done').map((m) => m.event.result);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ verdict: 'failed', step: { globalId: '04-broken/bad' } });
    expect(results[0].hosts[0]).toMatchObject({ exitCode: 3 });
    c.close();
  });

  it('cancels on request: the running step stops on the host and no later step starts', async () => {
    const c = await openClient(server);
    c.send({ type: 'prepare', id: 'p3', chapter: '07-on-slow' });
    const plan = await c.waitFor((m) => m.id === 'p3' && m.type === 'prepare-plan');
    await c.waitFor((m) => m.id === 'p3' && m.event?.type === 'output' && m.event.text.includes('started'));
    c.send({ type: 'cancel', id: 'c3', runId: plan.runId });
    const done = await c.waitFor((m) => m.id === 'p3' && m.type === 'prepare-done');
    expect(done).toMatchObject({ ok: false, cancelled: true, stoppedAt: '06-slow/slow', passed: 0, total: 2 });
    expect(c.messages.filter((m) => m.id === 'p3' && m.event?.type === 'start').map((m) => m.event.step)).toEqual(['06-slow/slow']);
    expect(() => execFileSync('pgrep', ['-f', marker])).toThrow();
    c.close();
  });

  it('asks for a confirmation naming the target when a step is marked confirm, before running anything', async () => {
    const c = await openClient(server);
    c.send({ type: 'prepare', id: 'p4', chapter: '09-on-careful' });
    const refused = await c.waitFor((m) => m.id === 'p4' && m.type === 'error');
    expect(refused.error).toMatchObject({ code: 'refused' });
    expect(refused.error.message).toMatch(/^this runs 1 step on "preptest" and some of them are marked confirm: it needs a confirmation naming it$/);
    expect(c.messages.some((m) => m.id === 'p4' && m.event)).toBe(false);
    c.send({ type: 'prepare', id: 'p5', chapter: '09-on-careful', confirm: 'wrong' });
    expect((await c.waitFor((m) => m.id === 'p5' && m.type === 'error')).error.code).toBe('refused');
    c.send({ type: 'prepare', id: 'p6', chapter: '09-on-careful', confirm: 'preptest' });
    expect(await c.waitFor((m) => m.id === 'p6' && m.type === 'prepare-done')).toMatchObject({ ok: true, passed: 1, total: 1 });
    c.close();
  });

  it('refuses an unknown chapter, a chapter with nothing to prepare, and anything that is not a chapter name', async () => {
    const c = await openClient(server);
    c.send({ type: 'prepare', id: 'p7', chapter: '42-nope' });
    expect((await c.waitFor((m) => m.id === 'p7')).error).toMatchObject({ code: 'refused', message: 'no chapter "42-nope" in the runbook' });
    c.send({ type: 'prepare', id: 'p8', chapter: '01-base' });
    expect((await c.waitFor((m) => m.id === 'p8')).error.message).toMatch(/builds on no chapter with runnable steps/);
    c.send({ type: 'prepare', id: 'p9', chapter: '01-base; rm -rf /' });
    expect((await c.waitFor((m) => m.id === 'p9')).error.message).toMatch(/chapter: a chapter is named by its slug/);
    c.send({ type: 'prepare', id: 'p10', chapter: '03-top', steps: ['01-base/boom'] });
    expect((await c.waitFor((m) => m.id === 'p10')).error.message).toMatch(/refused message/);
    c.close();
  });
});
