/**
 * A page that sends a frame the server must refuse (over the 256 KiB limit,
 * or text that is not UTF-8) loses that connection, and nothing else: the
 * `drillbook serve` process keeps serving everyone.
 *
 * Runs the real CLI in a child process, because a failure here kills the
 * server process, and must not kill the test worker with it.
 *
 * (Before attachConnection() listened for 'error', ws's receiver error
 * "Max payload size exceeded" / "Invalid UTF-8 sequence" killed the process.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/runbook/topology.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { httpRequest, login, privateStateDir, upgrade, wsProtocols } from './helpers.ts';

const NODES = '01-cloud-computing-and-ha/nodes-answer';

let fleet: SshFleet;
let inventory: string;
let child: { proc: ChildProcess; port: number; token: string; freshUrl: () => string; stderr: () => string; exited: Promise<number | null> } | undefined;
let state: ReturnType<typeof privateStateDir> | undefined;

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1']);
  inventory = fleet.writeInventory();
});

afterEach(async () => {
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
    child.proc.kill('SIGTERM');
    await child.exited;
  }
  child = undefined;
  state?.restore();
  state = undefined;
});

afterAll(async () => {
  await fleet?.stopAll();
});

/** `drillbook serve --port 0` in a child process; resolves once its token file is written. */
async function serveInChild() {
  state = privateStateDir('r06-frames');
  const root = projectRoot();
  const proc = spawn(process.execPath, [path.join(root, 'bin', 'drillbook.mjs'), 'serve', '--port', '0', '--inventory', inventory, '--no-open'], {
    cwd: root,
    env: { ...process.env, DRILLBOOK_STATE_DIR: state.dir, DISPLAY: '', WAYLAND_DISPLAY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  proc.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const tokenFile = path.join(state.dir, 'server.json');
  const deadline = Date.now() + 20_000;
  while (!existsSync(tokenFile)) {
    if (proc.exitCode !== null) throw new Error(`drillbook serve exited with ${proc.exitCode}: ${err}`);
    if (Date.now() > deadline) throw new Error(`drillbook serve wrote no ${tokenFile} within 20 s: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const { port, token } = JSON.parse(readFileSync(tokenFile, 'utf8'));
  // Login tokens are single use; the server keeps an unused one in its token file.
  const freshUrl = () => JSON.parse(readFileSync(tokenFile, 'utf8')).url as string;
  child = { proc, port, token, freshUrl, stderr: () => err, exited };
  return child;
}

/** Is the server process still up and answering? */
async function stillServing(c: NonNullable<typeof child>): Promise<string> {
  await new Promise((r) => setTimeout(r, 500));
  if (c.proc.exitCode !== null) return `exited with code ${c.proc.exitCode}: ${c.stderr().split('\n').slice(0, 6).join('\n')}`;
  try {
    const r = await httpRequest(c.port, '/');
    return r.status === 200 ? 'serving' : `answered ${r.status}`;
  } catch (e) {
    return `not answering: ${(e as Error).message}`;
  }
}

async function openWs(c: NonNullable<typeof child>) {
  const l = await login(c);
  const r = await upgrade(c.port, { cookie: l.cookie, protocols: wsProtocols(l.wsToken) });
  if (!r.ok) throw new Error(`upgrade refused: ${r.status}`);
  await r.client.next((m) => m.type === 'hello');
  return r.client;
}

describe('bad frames cost the sender its connection, not the server its life', () => {
  it('answers a normal message and keeps serving (the allowed counterpart)', async () => {
    const c = await serveInChild();
    const ws = await openWs(c);
    const answer = await ws.ask({ type: 'plan', id: 'ok', step: NODES });
    expect(answer.type).toBe('plan');
    ws.close();
    expect(await stillServing(c)).toBe('serving');
  });

  it('closes a connection that sends a message over 256 KiB (1009) and keeps serving', async () => {
    const c = await serveInChild();
    const ws = await openWs(c);
    ws.send(JSON.stringify({ type: 'plan', id: 'big', step: NODES, params: { vip: 'x'.repeat(300 * 1024) } }));
    expect((await ws.closed).code).toBe(1009);
    expect(ws.about('big')).toEqual([]);
    expect(await stillServing(c)).toBe('serving');
  });

  it('closes a connection that sends text that is not UTF-8 (1007) and keeps serving', async () => {
    const c = await serveInChild();
    const ws = await openWs(c);
    ws.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await ws.closed).code).toBe(1007);
    expect(await stillServing(c)).toBe('serving');
  });
});
