/**
 * Variables from the page (R6/R10): a value is checked against its declared
 * type before it gets near a shell, so shell syntax in an ipv4 value is
 * refused on `plan` and on `run`, nothing reaches a host and nothing is
 * created on disk. A parameter the chapter does not declare is refused.
 * Uses the real chapter 1, which declares `vip: { type: ipv4 }`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { acceptedLogins, connect, listDir, markerDir, privateStateDir, removeDir, rid, type WsClient } from './helpers.ts';

const NODES = '01-cloud-computing-and-ha/nodes-answer';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let ws: WsClient;
let marker: string;

beforeAll(async () => {
  state = privateStateDir('r10');
  marker = markerDir('r10');
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory(), log: () => {} });
  ws = await connect(server);
});

afterAll(async () => {
  ws?.close();
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
  removeDir(marker);
});

const payloads = (m: string): [string, string][] => [
  ['$( )', `$(touch ${m}/dollar-paren)`],
  ['backticks', `\`touch ${m}/backtick\``],
  ['semicolon', `10.77.0.100; touch ${m}/semicolon`],
  ['newline', `10.77.0.100\ntouch ${m}/newline`],
  ['single quote', `10.77.0.100'; touch ${m}/single-quote; echo '`],
  ['double quote', `10.77.0.100"; touch ${m}/double-quote; echo "`],
  ['&&', `10.77.0.100 && touch ${m}/and`],
  ['pipe', `10.77.0.100 | tee ${m}/pipe`],
  ['redirect', `10.77.0.100 > ${m}/redirect`],
  ['ampersand', `10.77.0.100 & touch ${m}/amp`],
  ['${IFS}', `10.77.0.100\${IFS}touch\${IFS}${m}/ifs`],
  ['trailing space', '10.77.0.100 '],
  ['carriage return', `10.77.0.100\rtouch ${m}/cr`],
  ['NUL byte', '10.77.0.100\u0000'],
];

describe('R10: shell syntax in a typed value is refused', () => {
  it.each(payloads('MARKER'))('refuses %s in vip on plan and run, and nothing runs', async (_label, template) => {
    const vip = template.replaceAll('MARKER', marker);
    for (const type of ['plan', 'run'] as const) {
      const id = rid(type);
      const answer = await ws.ask({ type, id, step: NODES, params: { vip } });
      expect(answer.type, JSON.stringify(answer)).toBe('error');
      expect(answer.error).toMatchObject({ code: 'variable', message: expect.stringContaining('variable "vip" must be an IPv4 address'), where: 'page' });
      expect(ws.about(id).map((m) => m.type)).toEqual(['error']);
    }
    expect(listDir(marker)).toEqual([]);
    expect(acceptedLogins(fleet)).toBe(0);
  });

  it('refuses a value that is not a string', async () => {
    for (const vip of [167772161, ['10.77.0.100'], { $: 'x' }, null, true]) {
      const answer = await ws.ask({ type: 'plan', id: rid(), step: NODES, params: { vip } });
      expect(answer.type).toBe('error');
      expect(answer.error.message).toMatch(/params\.vip: Expected string/);
    }
  });

  it('plans and runs with a valid IPv4 value: the allowed counterpart', async () => {
    const plan = await ws.ask({ type: 'plan', id: rid(), step: NODES, params: { vip: '10.77.0.123' } });
    expect(plan.type, JSON.stringify(plan)).toBe('plan');
    expect(plan.targets).toHaveLength(3);
    const { first, done } = await ws.run({ type: 'run', id: rid(), step: NODES, params: { vip: '10.77.0.123' } });
    expect(first.type, JSON.stringify(first)).toBe('run-started');
    expect(done.result.verdict).toBe('passed');
    expect(listDir(marker)).toEqual([]);
  });
});

describe('R10: only declared parameters', () => {
  it.each(['vipp', 'vip2', 'path', 'ld_preload', 'bash_env', 'ps4', 'home', 'host', 'inventory', 'host_address'])('refuses the undeclared parameter %j', async (name) => {
    for (const type of ['plan', 'run'] as const) {
      const answer = await ws.ask({ type, id: rid(), step: NODES, params: { [name]: '10.77.0.100' } });
      expect(answer.type).toBe('error');
      expect(answer.error).toMatchObject({ code: 'variable', message: `chapter 01-cloud-computing-and-ha has no variable "${name}"`, hint: 'its variables: vip' });
    }
  });

  it.each(['VIP', 'PATH', 'LD_PRELOAD', 'BASH_ENV', '_x', '1x', 'a-b', 'vip;id', ''])('refuses the malformed parameter name %j', async (name) => {
    const answer = await ws.ask({ type: 'run', id: rid(), step: NODES, params: { [name]: '10.77.0.100' } });
    expect(answer.type).toBe('error');
    expect(answer.error.code).toBe('refused');
    expect(answer.error.message).toMatch(/params\..*: Invalid/);
  });

  it('refuses the undeclared parameter "constructor"', async () => {
    const answer = await ws.ask({ type: 'plan', id: rid(), step: NODES, params: { constructor: '10.77.0.100' } });
    expect(answer.type, JSON.stringify(answer)).toBe('error');
    expect(answer.error.message).toBe('chapter 01-cloud-computing-and-ha has no variable "constructor"');
  });

  it('nothing any refused message carried ever ran', () => {
    expect(listDir(marker)).toEqual([]);
  });
});
