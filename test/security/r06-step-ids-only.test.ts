/**
 * R6 Executable registry: the page can only name a manifest step (pinned by
 * its hash) and give values. A message carrying script text, an unknown
 * step, a wrong hash or an unknown message type is refused, and nothing runs:
 * no marker file appears and the sshd processes record no login.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findStep, loadManifest } from '../../src/runbook/manifest.ts';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { acceptedLogins, connect, listDir, markerDir, privateStateDir, removeDir, rid, type WsClient } from './helpers.ts';

const NODES = '01-cloud-computing-and-ha/nodes-answer';
const OS = '01-cloud-computing-and-ha/os-release';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let ws: WsClient;
let marker: string;
let hash: string;

beforeAll(async () => {
  state = privateStateDir('r06');
  marker = markerDir('r06');
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory(), log: () => {} });
  ws = await connect(server);
  const step = findStep(loadManifest(), NODES);
  if (!step) throw new Error(`the real manifest has no ${NODES}`);
  hash = step.hash;
});

afterAll(async () => {
  ws?.close();
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
  removeDir(marker);
});

/** Send a message that must be refused; check that nothing started and nothing ran. */
async function expectRefused(msg: Record<string, unknown>, pattern: RegExp, code = 'refused') {
  const answer = await ws.ask(msg as { id: string });
  expect(answer.type, JSON.stringify(answer)).toBe('error');
  expect(answer.error.code).toBe(code);
  expect(answer.error.message).toMatch(pattern);
  // Give a wrongly started run time to reach the hosts before checking that none did.
  await new Promise((r) => setTimeout(r, 100));
  expect(ws.about(msg.id as string).filter((m) => m.type !== 'error')).toEqual([]);
  expect(listDir(marker)).toEqual([]);
  expect(acceptedLogins(fleet)).toBe(0);
}

describe('R6: script text is never accepted', () => {
  it('refuses a run carrying a `script` field', async () => {
    await expectRefused({ type: 'run', id: rid(), step: NODES, script: `touch ${marker}/script` }, /Unrecognized key\(s\) in object: 'script'/);
  });

  it('refuses a run carrying a `command` field', async () => {
    await expectRefused({ type: 'run', id: rid(), step: NODES, command: `touch ${marker}/command` }, /Unrecognized key\(s\) in object: 'command'/);
  });

  it('refuses a plan carrying a `script` field, and a run with script-like extra fields', async () => {
    await expectRefused({ type: 'plan', id: rid(), step: NODES, script: `touch ${marker}/plan` }, /Unrecognized key/);
    await expectRefused({ type: 'run', id: rid(), step: NODES, cmd: `touch ${marker}/cmd`, shell: 'bash' }, /Unrecognized key/);
    await expectRefused({ type: 'run', id: rid(), step: NODES, on: 'all', where: `touch ${marker}/where` }, /Unrecognized key/);
  });

  it('refuses script text in place of a step id', async () => {
    await expectRefused({ type: 'run', id: rid(), step: `touch ${marker}/step` }, /step: a step is named chapter-slug\/step-id/);
    await expectRefused({ type: 'run', id: rid(), step: `${NODES}; touch ${marker}/step2` }, /step: /);
    await expectRefused({ type: 'run', id: rid(), step: `${NODES}\ntouch ${marker}/step3` }, /step: /);
  });

  it('refuses message types the protocol does not define', async () => {
    for (const type of ['exec', 'shell', 'terminal', 'script']) {
      await expectRefused({ type, id: rid(), script: `touch ${marker}/${type}`, command: `touch ${marker}/${type}` }, /Invalid discriminator value/);
    }
  });

  it('refuses a message that is not JSON text', async () => {
    ws.send(`touch ${marker}/text`);
    expect((await ws.next((m) => m.type === 'error' && m.id === undefined)).error.message).toMatch(/messages are JSON text/);
    ws.ws.send(Buffer.from(JSON.stringify({ type: 'run', id: 'bin', step: NODES })), { binary: true });
    expect((await ws.next((m) => m.type === 'error' && m.id === undefined)).error.message).toMatch(/messages are JSON text/);
    expect(ws.about('bin')).toEqual([]);
    expect(listDir(marker)).toEqual([]);
  });
});

describe('R6: only steps of the manifest, at the version the page shows', () => {
  it('refuses a step id that is not in the manifest', async () => {
    for (const step of ['01-cloud-computing-and-ha/no-such-step', '99-nowhere/nodes-answer', '01-cloud-computing-and-ha/nodes-answer-x']) {
      await expectRefused({ type: 'run', id: rid(), step }, /no step ".*" in the runbook/);
      await expectRefused({ type: 'plan', id: rid(), step }, /no step ".*" in the runbook/);
    }
  });

  it('refuses a wrong hash', async () => {
    for (const wrong of ['0000000000000000', hash.slice(0, 15), hash.toUpperCase(), '', findStep(loadManifest(), OS)!.hash]) {
      await expectRefused({ type: 'run', id: rid(), step: NODES, hash: wrong }, /different version/);
    }
  });

  it('plans the manifest step with its right hash', async () => {
    const answer = await ws.ask({ type: 'plan', id: rid(), step: NODES, hash });
    expect(answer).toMatchObject({ type: 'plan', step: NODES, inventory: 'test', needsConfirm: false });
    expect(answer.targets.map((t: { host: string }) => t.host)).toEqual(['ctl1', 'ctl2', 'ctl3']);
    expect(answer.targets[0].display).toContain('echo "ctl1 answers as $(hostname) at 127.0.0.1"');
    expect(acceptedLogins(fleet)).toBe(0); // planning connects to nothing
  });

  it('runs the manifest step with its right hash: the allowed counterpart of every refusal above', async () => {
    const { first, events, done } = await ws.run({ type: 'run', id: rid(), step: NODES, hash });
    expect(first.type, JSON.stringify(first)).toBe('run-started');
    expect(done.result.verdict).toBe('passed');
    expect(done.result.hosts.map((h: { host: string; verdict: string }) => `${h.host}:${h.verdict}`)).toEqual(['ctl1:passed', 'ctl2:passed', 'ctl3:passed']);
    const out = events.filter((e) => e.type === 'output').map((e) => e.text).join('');
    expect(out).toContain('ctl2 answers as');
    expect(acceptedLogins(fleet)).toBeGreaterThanOrEqual(3);
    // The step's own script writes no marker; nothing a refused message carried ever ran.
    expect(listDir(marker)).toEqual([]);
  });
});
