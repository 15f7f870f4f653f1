/**
 * R7 Destructive steps: a `break` step, and any step marked `confirm`, runs
 * only with a confirmation naming the target inventory. Without it (or with
 * any other value) the run is refused before anything reaches a host.
 * The fixture steps write marker files, so "did it run" is read off disk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { frontmatter, step, writeChapters } from '../fixtures/chapters.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { acceptedLogins, connect, listDir, markerDir, privateStateDir, removeDir, rid, withChaptersDir, type WsClient } from './helpers.ts';

const INVENTORY = 'r07-lab';
const BREAK = '01-fixture/kill-ctl1';
const CONFIRM = '01-fixture/wipe-ctl2';
const VERIFY = '01-fixture/look';
const RECOVER = '01-fixture/heal-ctl1';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let ws: WsClient;
let marker: string;
let chapters: string;

beforeAll(async () => {
  state = privateStateDir('r07');
  marker = markerDir('r07');
  chapters = writeChapters({
    '01-fixture.mdx':
      frontmatter() +
      step('id="look" title="Look around" on="all"', `echo "look {{host}}"`, 'Verify') +
      step('id="kill-ctl1" title="Kill ctl1" on="ctl1"', `touch ${marker}/break-{{host}}\necho broke {{host}}`, 'Break') +
      step('id="wipe-ctl2" title="Wipe ctl2" on="ctl2" confirm', `touch ${marker}/confirm-{{host}}\necho wiped {{host}}`) +
      step('id="heal-ctl1" title="Heal ctl1" on="ctl1"', `echo healed {{host}}`, 'Recover'),
  });
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  server = await withChaptersDir(chapters, () => startServer({ port: 0, inventory: fleet.writeInventory({ name: INVENTORY }), log: () => {} }));
  ws = await connect(server);
});

afterAll(async () => {
  ws?.close();
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
  removeDir(marker);
  removeDir(chapters);
});

describe('R7: the fixture chapter is what the server runs', () => {
  it('knows the fixture steps (and not the book chapters) and says which need a confirmation', async () => {
    const plans = await Promise.all([BREAK, CONFIRM, VERIFY, RECOVER].map((s) => ws.ask({ type: 'plan', id: rid(), step: s })));
    expect(plans.map((p) => [p.step, p.needsConfirm, p.inventory])).toEqual([
      [BREAK, true, INVENTORY],
      [CONFIRM, true, INVENTORY],
      [VERIFY, false, INVENTORY],
      [RECOVER, false, INVENTORY],
    ]);
    expect((await ws.ask({ type: 'plan', id: rid(), step: '01-cloud-computing-and-ha/nodes-answer' })).type).toBe('error');
  });
});

describe.each([
  ['a break step', BREAK, 'break-ctl1', /is a break step and needs a confirmation naming the target "r07-lab"/],
  ['a step marked confirm', CONFIRM, 'confirm-ctl2', /is marked confirm and needs a confirmation naming the target "r07-lab"/],
])('R7: %s', (_label, stepId, file, message) => {
  it('is refused without a confirmation, and nothing reaches a host', async () => {
    const logins = acceptedLogins(fleet);
    const { first } = await ws.run({ type: 'run', id: rid(), step: stepId });
    expect(first.type).toBe('error');
    expect(first.error).toMatchObject({ code: 'refused', message: expect.stringMatching(message), hint: expect.stringContaining(INVENTORY) });
    expect(listDir(marker)).not.toContain(file);
    expect(acceptedLogins(fleet)).toBe(logins);
  });

  it.each(['', 'yes', 'true', 'R07-LAB', ' r07-lab', 'r07-lab ', 'test', 'local', 'ctl1'])('is refused with the confirmation %j', async (confirm) => {
    const id = rid();
    const { first } = await ws.run({ type: 'run', id, step: stepId, confirm });
    expect(first.type).toBe('error');
    expect(first.error.code).toBe('refused');
    expect(ws.about(id).some((m) => m.type === 'run-started' || m.type === 'run-event')).toBe(false);
    expect(listDir(marker)).not.toContain(file);
  });

  it('is refused when the confirmation is the right name in the wrong type', async () => {
    const { first } = await ws.run({ type: 'run', id: rid(), step: stepId, confirm: true });
    expect(first.type).toBe('error');
    expect(first.error.message).toMatch(/confirm: Expected string/);
    expect(listDir(marker)).not.toContain(file);
  });

  it('runs when the confirmation names the target inventory', async () => {
    const { first, done } = await ws.run({ type: 'run', id: rid(), step: stepId, confirm: INVENTORY });
    expect(first.type, JSON.stringify(first)).toBe('run-started');
    expect(done.result.verdict).toBe('passed');
    expect(listDir(marker)).toContain(file);
  });
});

describe('R7: steps that are not destructive', () => {
  it('run without a confirmation', async () => {
    for (const s of [VERIFY, RECOVER]) {
      const { first, done } = await ws.run({ type: 'run', id: rid(), step: s });
      expect(first.type, JSON.stringify(first)).toBe('run-started');
      expect(done.result.verdict).toBe('passed');
    }
  });

  it('only ever touched the hosts each confirmed step names', () => {
    expect(listDir(marker)).toEqual(['break-ctl1', 'confirm-ctl2']);
  });
});
