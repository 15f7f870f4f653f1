/** The WebSocket API: plan, run with streamed events, cancel, refusals. */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { frontmatter, step, writeChapters } from '../fixtures/chapters.ts';
import { openClient } from '../fixtures/session.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let server: RunningServer;
const marker = `sleep 3${process.pid % 100}4`;
const saved = process.env.DRILLBOOK_CHAPTERS_DIR;

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  process.env.DRILLBOOK_CHAPTERS_DIR = writeChapters({
    '01-fixture.mdx':
      frontmatter('vars:\n  vip: { type: ipv4, default: 10.77.0.100 }\n') +
      step('id="hello" title="Hello" on="controllers"', 'echo "hello {{host}} vip {{vip}}"') +
      step('id="slow" title="Slow" on="ctl1,ctl2"', `echo started; ${marker}`),
  });
  server = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'wstest' }) });
});
afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  if (saved === undefined) delete process.env.DRILLBOOK_CHAPTERS_DIR;
  else process.env.DRILLBOOK_CHAPTERS_DIR = saved;
});

describe('WebSocket API', () => {
  it('greets with the target inventory', async () => {
    const c = await openClient(server);
    const hello = await c.waitFor((m) => m.type === 'hello');
    expect(hello.inventory).toMatchObject({ name: 'wstest', profile: 'lab', hosts: [{ name: 'ctl1' }, { name: 'ctl2' }, { name: 'ctl3' }], groups: { controllers: ['ctl1', 'ctl2', 'ctl3'] } });
    c.close();
  });

  it('plans a step: targets and the script with values filled in', async () => {
    const c = await openClient(server);
    c.send({ type: 'plan', id: 'p1', step: '01-fixture/hello', params: { vip: '10.77.0.200' } });
    const plan = await c.waitFor((m) => m.id === 'p1');
    expect(plan).toMatchObject({ type: 'plan', inventory: 'wstest', needsConfirm: false });
    expect(plan.targets.map((t: { display: string }) => t.display)).toEqual(['echo "hello ctl1 vip 10.77.0.200"', 'echo "hello ctl2 vip 10.77.0.200"', 'echo "hello ctl3 vip 10.77.0.200"']);
    expect(plan.targets[0].values).toEqual({ host: 'ctl1', vip: '10.77.0.200' });
    c.close();
  });

  it('runs a step and streams per-host events to the verdict', async () => {
    const c = await openClient(server);
    c.send({ type: 'run', id: 'r1', step: '01-fixture/hello', params: {} });
    const done = await c.waitFor((m) => m.id === 'r1' && m.event?.type === 'done');
    const events = c.messages.filter((m) => m.id === 'r1');
    expect(events[0].type).toBe('run-started');
    expect(events.filter((m) => m.event?.type === 'output').map((m) => `${m.event.host}:${m.event.text}`).sort()).toEqual([
      'ctl1:hello ctl1 vip 10.77.0.100\n',
      'ctl2:hello ctl2 vip 10.77.0.100\n',
      'ctl3:hello ctl3 vip 10.77.0.100\n',
    ]);
    expect(events.filter((m) => m.event?.type === 'host-done')).toHaveLength(3);
    expect(done.event.result).toMatchObject({ verdict: 'passed', inventory: 'wstest', step: { globalId: '01-fixture/hello' } });
    c.close();
  });

  it('cancels a run on request; the remote processes stop', async () => {
    const c = await openClient(server);
    c.send({ type: 'run', id: 'r2', step: '01-fixture/slow' });
    const started = await c.waitFor((m) => m.id === 'r2' && m.type === 'run-started');
    await c.waitFor((m) => m.id === 'r2' && m.event?.type === 'output' && m.event.text.includes('started'));
    c.send({ type: 'cancel', id: 'c1', runId: started.runId });
    const done = await c.waitFor((m) => m.id === 'r2' && m.event?.type === 'done');
    expect(done.event.result.verdict).toBe('cancelled');
    expect(done.event.result.hosts.every((h: { remoteStopped: boolean }) => h.remoteStopped)).toBe(true);
    expect(() => execFileSync('pgrep', ['-f', marker])).toThrow();
    c.close();
  });

  it('closing the page cancels what it started', async () => {
    const c = await openClient(server);
    c.send({ type: 'run', id: 'r3', step: '01-fixture/slow' });
    await c.waitFor((m) => m.id === 'r3' && m.event?.type === 'output' && m.event.text.includes('started'));
    c.close();
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        execFileSync('pgrep', ['-f', marker]);
      } catch {
        alive = false;
      }
    }
    expect(alive).toBe(false);
  });

  it('refuses a page built from another version of the step', async () => {
    const c = await openClient(server);
    c.send({ type: 'run', id: 'r4', step: '01-fixture/hello', hash: '0000000000000000' });
    const err = await c.waitFor((m) => m.id === 'r4');
    expect(err).toMatchObject({ type: 'error', error: { code: 'refused', hint: expect.stringMatching(/rebuild the site/) } });
    c.close();
  });
});
