/**
 * R9 terminal: the browser terminal is a full shell, so it is off unless
 * the server is started with it, and it has its own capability. With it
 * on, `/api/term` needs the same Host, exact Origin and session cookie as
 * `/api/ws` plus `drillbook.term.<termToken>`: the step capability does not
 * open a terminal and the terminal capability does not open the step API.
 * Every refusal is paired with the allowed request succeeding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { expectUpgradeRefused, httpRequest, login, privateStateDir, upgrade, wsProtocols, type Login } from './helpers.ts';

let fleet: SshFleet;
let off: RunningServer;
let on: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let offAuth: Login;
let auth: Login & { termToken: string };
let other: Login & { termToken: string };
const logs: string[] = [];

const termProtocols = (termToken: string) => ['drillbook.terminal.v1', `drillbook.term.${termToken}`];

async function termLogin(server: RunningServer) {
  const l = await login(server);
  return { ...l, termToken: (l.session as unknown as { termToken: string }).termToken };
}

beforeAll(async () => {
  state = privateStateDir('r09');
  fleet = await startSshFleet(['ctl1']);
  const inventory = fleet.writeInventory({ name: 'r09-lab' });
  off = await startServer({ port: 0, inventory, log: () => {} });
  on = await startServer({ port: 0, inventory, terminal: true, log: (m) => logs.push(m) });
  offAuth = await login(off);
  auth = await termLogin(on);
  other = await termLogin(on);
});

afterAll(async () => {
  await off?.close();
  await on?.close();
  await fleet?.stopAll();
  state?.restore();
});

const expectRefused = (server: RunningServer, opts: Parameters<typeof upgrade>[1], status: number, reason: RegExp) => expectUpgradeRefused(server.port, opts, status, reason);

async function expectAccepted(server: RunningServer, opts: Parameters<typeof upgrade>[1], protocol: string) {
  const r = await upgrade(server.port, opts);
  if (!r.ok) throw new Error(`upgrade with ${JSON.stringify(opts)} was refused: ${r.status} ${r.body}`);
  // Only the protocol name comes back: never the capability.
  expect(r.protocol).toBe(protocol);
  r.client.close();
}

/** Open a real terminal with these credentials and run one command in it. */
async function shellEcho(port: number, cookie: string, termToken: string): Promise<string> {
  const origin = `http://127.0.0.1:${port}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/term`, termProtocols(termToken), { headers: { Origin: origin, Cookie: cookie } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let out = '';
  const done = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no output; got ${JSON.stringify(out)}`)), 15_000);
    ws.on('message', (d, binary) => {
      if (!binary) {
        const m = JSON.parse(d.toString());
        if (m.type === 'ready') ws.send(Buffer.from('echo "r09-$((4+5))-$(whoami)"\r'), { binary: true });
        if (m.type === 'error') reject(new Error(m.error.message));
        return;
      }
      out += d.toString();
      const hit = /r09-9-([a-z-]+)\r\n/.exec(out);
      if (hit) {
        clearTimeout(t);
        resolve(hit[1]);
      }
    });
  });
  ws.send(JSON.stringify({ type: 'open', target: { kind: 'host', host: 'ctl1' }, cols: 80, rows: 24 }));
  const who = await done;
  ws.send(JSON.stringify({ type: 'close' }));
  await new Promise((r) => ws.once('close', r));
  return who;
}

describe('R9: the terminal is off by default', () => {
  it('/api/session says terminal: false and hands out no terminal capability', () => {
    expect(offAuth.session).toMatchObject({ terminal: false });
    expect(offAuth.session).not.toHaveProperty('termToken');
  });

  it('refuses /api/term with 403 and says how to enable it, while /api/ws opens', async () => {
    for (const protocols of [termProtocols(offAuth.wsToken), wsProtocols(offAuth.wsToken), termProtocols('0'.repeat(64))]) {
      await expectRefused(off, { path: '/api/term', cookie: offAuth.cookie, protocols }, 403, /the terminal is off: start the server with `drillbook serve --terminal`/);
    }
    await expectAccepted(off, { path: '/api/ws', cookie: offAuth.cookie, protocols: wsProtocols(offAuth.wsToken) }, 'drillbook.v1');
  });

  it('has no terminal over plain HTTP either', async () => {
    const r = await httpRequest(off.port, '/api/term', { headers: { Cookie: offAuth.cookie, 'X-Drillbook': '1' } });
    expect(r.status).toBe(404);
  });
});

describe('R9: with --terminal, a capability of its own', () => {
  it('/api/session hands out a terminal capability distinct from the step capability, per session', () => {
    expect(auth.session).toMatchObject({ terminal: true, termPath: '/api/term' });
    expect(auth.termToken).toMatch(/^[0-9a-f]{64}$/);
    expect(auth.termToken).not.toBe(auth.wsToken);
    expect(other.termToken).not.toBe(auth.termToken);
  });

  it('opens a terminal with Host, exact Origin, the cookie and the terminal capability: a real shell', async () => {
    await expectAccepted(on, { path: '/api/term', cookie: auth.cookie, protocols: termProtocols(auth.termToken) }, 'drillbook.terminal.v1');
    expect(await shellEcho(on.port, auth.cookie, auth.termToken)).toBe('drillbook-test');
  });

  it('refuses the step capability on /api/term (401)', async () => {
    for (const protocols of [wsProtocols(auth.wsToken), termProtocols(auth.wsToken), ['drillbook.terminal.v1', `drillbook.token.${auth.wsToken}`], [...wsProtocols(auth.wsToken), 'drillbook.terminal.v1']]) {
      await expectRefused(on, { path: '/api/term', cookie: auth.cookie, protocols }, 401, /terminal capability token/);
    }
  });

  it('refuses the terminal capability on /api/ws (401), which opens with the step capability', async () => {
    for (const protocols of [termProtocols(auth.termToken), wsProtocols(auth.termToken), ['drillbook.v1', `drillbook.term.${auth.termToken}`], [...termProtocols(auth.termToken), 'drillbook.v1']]) {
      await expectRefused(on, { path: '/api/ws', cookie: auth.cookie, protocols }, 401, /capability token/);
    }
    await expectAccepted(on, { path: '/api/ws', cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) }, 'drillbook.v1');
  });

  it('refuses a foreign, near-miss or missing Origin (403)', async () => {
    const creds = { path: '/api/term', cookie: auth.cookie, protocols: termProtocols(auth.termToken) };
    for (const origin of ['http://evil.example', `http://127.0.0.1:${on.port + 1}`, `http://localhost:${on.port}`, `https://127.0.0.1:${on.port}`, 'null', '']) {
      await expectRefused(on, { ...creds, origin }, 403, /is not http:\/\/127\.0\.0\.1:/);
    }
    await expectRefused(on, { ...creds, origin: null }, 403, /Origin \(none\)/);
    expect(logs.some((l) => l.includes('refused terminal WebSocket from Origin http://evil.example'))).toBe(true);
    await expectAccepted(on, { ...creds, origin: `http://127.0.0.1:${on.port}` }, 'drillbook.terminal.v1');
  });

  it('refuses a missing or foreign session cookie (401), and another session\'s capability', async () => {
    await expectRefused(on, { path: '/api/term', protocols: termProtocols(auth.termToken) }, 401, /no session cookie/);
    await expectRefused(on, { path: '/api/term', cookie: `drillbook_session=${'f'.repeat(64)}`, protocols: termProtocols(auth.termToken) }, 401, /no session cookie/);
    // A cookie of one session with the terminal capability of another.
    await expectRefused(on, { path: '/api/term', cookie: other.cookie, protocols: termProtocols(auth.termToken) }, 401, /terminal capability token/);
    await expectRefused(on, { path: '/api/term', cookie: auth.cookie, protocols: termProtocols(other.termToken) }, 401, /terminal capability token/);
    await expectRefused(on, { path: '/api/term', cookie: auth.cookie, protocols: ['drillbook.terminal.v1'] }, 401, /terminal capability token/);
    await expectRefused(on, { path: '/api/term', cookie: auth.cookie, protocols: [`drillbook.term.${auth.termToken}`] }, 401, /terminal capability token/);
    // Each session with its own capability.
    await expectAccepted(on, { path: '/api/term', cookie: other.cookie, protocols: termProtocols(other.termToken) }, 'drillbook.terminal.v1');
  });

  it('refuses a foreign Host (403), and opens under a loopback name with the matching Origin', async () => {
    for (const host of [`evil.example:${on.port}`, `127.0.0.1.evil.example:${on.port}`, `127.0.0.1:${on.port + 1}`]) {
      await expectRefused(on, { path: '/api/term', host, origin: `http://${host}`, cookie: auth.cookie, protocols: termProtocols(auth.termToken) }, 403, /Host .* is not allowed/);
    }
    const host = `localhost:${on.port}`;
    await expectAccepted(on, { path: '/api/term', host, origin: `http://${host}`, cookie: auth.cookie, protocols: termProtocols(auth.termToken) }, 'drillbook.terminal.v1');
  });

  it('a terminal of one login session cannot be attached from another', async () => {
    const origin = `http://127.0.0.1:${on.port}`;
    const open = (cookie: string, token: string) => new WebSocket(`ws://127.0.0.1:${on.port}/api/term`, termProtocols(token), { headers: { Origin: origin, Cookie: cookie } });
    const a = open(auth.cookie, auth.termToken);
    const ready = await new Promise<{ id: string }>((resolve) => {
      a.on('message', (d, binary) => !binary && JSON.parse(d.toString()).type === 'ready' && resolve(JSON.parse(d.toString())));
      a.once('open', () => a.send(JSON.stringify({ type: 'open', target: { kind: 'host', host: 'ctl1' }, cols: 80, rows: 24 })));
    });
    const b = open(other.cookie, other.termToken);
    const answer = await new Promise<{ type: string; error?: { message: string } }>((resolve) => {
      b.on('message', (d, binary) => !binary && resolve(JSON.parse(d.toString())));
      b.once('open', () => b.send(JSON.stringify({ type: 'attach', id: ready.id, cols: 80, rows: 24 })));
    });
    expect(answer).toMatchObject({ type: 'error', error: { message: 'this terminal is not running any more' } });
    expect(on.terminals!.stats(ready.id)).toMatchObject({ attached: true });
    a.send(JSON.stringify({ type: 'close' }));
    await new Promise((r) => a.once('close', r));
    b.terminate();
  });
});
