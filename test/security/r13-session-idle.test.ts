/**
 * R13 Sessions end: a login session that sends nothing for the idle time is
 * forgotten by the server. Its cookie stops working, its open WebSockets are
 * closed with a reason, and only a new login link lets the page in again.
 * Activity (a request or a WebSocket message) keeps a session alive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { httpRequest, login, upgrade, wsProtocols } from './helpers.ts';

const IDLE_MS = 1500;
let fleet: SshFleet;
let server: RunningServer;
const logged: string[] = [];

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory(), sessionIdleMs: IDLE_MS, log: (m) => logged.push(m) });
});
afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const api = (cookie: string) => httpRequest(server.port, '/api/session', { headers: { Cookie: cookie, 'X-Drillbook': '1' } });

describe('R13: idle login sessions end', () => {
  it('an idle session loses its cookie and its open WebSocket, with a reason', async () => {
    const s = await login(server);
    const up = await upgrade(server.port, { cookie: s.cookie, protocols: wsProtocols(s.wsToken) });
    expect(up.ok).toBe(true);
    if (!up.ok) return;
    const closed = await Promise.race([up.client.closed, sleep(IDLE_MS * 4).then(() => null)]);
    expect(closed).toEqual({ code: 4001, reason: 'session ended after idle time: open a new login link' });
    const r = await api(s.cookie);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body).error.message).toMatch(/no session \(or it ended after a long idle time\).*drillbook open/);
    // The same capability cannot reopen a WebSocket either.
    const again = await upgrade(server.port, { cookie: s.cookie, protocols: wsProtocols(s.wsToken) });
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.status).toBe(401);
    expect(logged.some((m) => /login session ended after \d+ min without activity/.test(m))).toBe(true);
  });

  it('WebSocket messages keep a session alive past the idle time; a new login works after expiry', async () => {
    const s = await login(server);
    const up = await upgrade(server.port, { cookie: s.cookie, protocols: wsProtocols(s.wsToken) });
    expect(up.ok).toBe(true);
    if (!up.ok) return;
    // Three idle periods, with a message every third of one.
    for (let i = 0; i < 9; i++) {
      up.client.send({ type: 'progress', id: `k${i}` });
      await up.client.next((m) => m.id === `k${i}`);
      await sleep(IDLE_MS / 3);
    }
    expect((await api(s.cookie)).status).toBe(200);
    up.client.close();
    await sleep(IDLE_MS * 3);
    expect((await api(s.cookie)).status).toBe(401);
    const fresh = await login(server);
    expect((await api(fresh.cookie)).status).toBe(200);
  });
});
