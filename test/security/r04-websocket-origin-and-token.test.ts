/**
 * R4 WebSocket auth: the upgrade needs an Origin exactly equal to the served
 * origin (a missing Origin is refused), the session cookie, and the
 * session's capability token in Sec-WebSocket-Protocol. A cookie alone is
 * not enough: other localhost ports share SameSite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { expectUpgradeRefused, login, privateStateDir, upgrade, wsProtocols, type Login } from './helpers.ts';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let auth: Login;
let other: Login;
const logs: string[] = [];

beforeAll(async () => {
  state = privateStateDir('r04');
  fleet = await startSshFleet(['ctl1', 'ctl2']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'r04-lab' }), log: (m) => logs.push(m) });
  auth = await login(server);
  other = await login(server);
});

afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
});

const here = () => `127.0.0.1:${server.port}`;

const expectRefused = (opts: Parameters<typeof upgrade>[1], status: number, reason: RegExp) => expectUpgradeRefused(server.port, opts, status, reason);

describe('R4: the allowed upgrade', () => {
  it('opens with the exact Origin, the cookie and the capability token, and says hello', async () => {
    const r = await upgrade(server.port, { origin: `http://${here()}`, cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    // Only the protocol name is echoed back: the capability token never appears in a response header.
    expect(r.protocol).toBe('drillbook.v1');
    const hello = await r.client.next((m) => m.type === 'hello');
    expect(hello.inventory).toMatchObject({ name: 'r04-lab', profile: 'lab' });
    expect(hello.inventory.hosts.map((h: { name: string }) => h.name)).toEqual(['ctl1', 'ctl2']);
    r.client.close();
  });

  it('opens for the localhost name too, when Origin matches that Host', async () => {
    const host = `localhost:${server.port}`;
    const r = await upgrade(server.port, { host, origin: `http://${host}`, cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) });
    expect(r.ok).toBe(true);
    if (r.ok) r.client.close();
  });
});

describe('R4: Origin must match exactly', () => {
  const creds = () => ({ cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) });

  it('refuses another localhost port as Origin (403)', async () => {
    await expectRefused({ ...creds(), origin: `http://127.0.0.1:${server.port + 1}` }, 403, /Origin http:\/\/127\.0\.0\.1:\d+ is not/);
    await expectRefused({ ...creds(), origin: `http://localhost:${server.port + 1}` }, 403, /is not/);
    await expectRefused({ ...creds(), origin: 'http://localhost:4321' }, 403, /is not/);
  });

  it('refuses a missing Origin (403)', async () => {
    await expectRefused({ ...creds(), origin: null }, 403, /Origin \(none\)/);
  });

  it('refuses a foreign, opaque or near-miss Origin (403)', async () => {
    for (const origin of [
      'http://evil.example',
      `http://evil.example:${server.port}`,
      'null',
      `https://${here()}`,
      `ws://${here()}`,
      `http://${here()}/`,
      `http://localhost:${server.port}`, // loopback, right port, but not the Host this request names
      `http://[::1]:${server.port}`,
      `http://${here()}.evil.example`,
      `http://user@${here()}`,
      '',
    ]) {
      await expectRefused({ ...creds(), origin }, 403, /is not http:\/\/127\.0\.0\.1:/);
    }
  });

  it('logs the refused Origin', () => {
    expect(logs.some((l) => l.includes('refused WebSocket from Origin http://evil.example'))).toBe(true);
    expect(logs.some((l) => l.includes('refused WebSocket from Origin (none)'))).toBe(true);
  });
});

describe('R4: cookie and capability token are both required', () => {
  it('refuses without the session cookie, even with a valid capability token (401)', async () => {
    await expectRefused({ protocols: wsProtocols(auth.wsToken) }, 401, /no session cookie/);
    await expectRefused({ cookie: `drillbook_session=${'f'.repeat(64)}`, protocols: wsProtocols(auth.wsToken) }, 401, /no session cookie/);
    await expectRefused({ cookie: `drillbook_session=${server.token}`, protocols: wsProtocols(auth.wsToken) }, 401, /no session cookie/);
  });

  it('refuses the cookie alone, with no capability token (401)', async () => {
    await expectRefused({ cookie: auth.cookie, protocols: ['drillbook.v1'] }, 401, /capability token/);
    await expectRefused({ cookie: auth.cookie, protocols: [] }, 401, /capability token/);
  });

  it('refuses a wrong capability token, or one of another session (401)', async () => {
    await expectRefused({ cookie: auth.cookie, protocols: wsProtocols('0'.repeat(64)) }, 401, /capability token/);
    await expectRefused({ cookie: auth.cookie, protocols: wsProtocols(server.token) }, 401, /capability token/);
    await expectRefused({ cookie: auth.cookie, protocols: wsProtocols(auth.wsToken.slice(0, 32)) }, 401, /capability token/);
    await expectRefused({ cookie: auth.cookie, protocols: wsProtocols(other.wsToken) }, 401, /capability token/);
    // …while that other token works with its own cookie.
    const r = await upgrade(server.port, { cookie: other.cookie, protocols: wsProtocols(other.wsToken) });
    expect(r.ok).toBe(true);
    if (r.ok) r.client.close();
  });

  it('refuses the token without the drillbook.v1 protocol (401)', async () => {
    await expectRefused({ cookie: auth.cookie, protocols: [`drillbook.token.${auth.wsToken}`] }, 401, /capability token/);
  });
});

describe('R4: only /api/ws upgrades (no terminal endpoint is on)', () => {
  it('answers 404 to an upgrade on any other path, with full credentials', async () => {
    for (const p of ['/api/terminal', '/api/ws/', '/', '/api/ws2', '/chapters/01-cloud-computing-and-ha/']) {
      await expectRefused({ path: p, cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) }, 404, /no WebSocket here/);
    }
    const r = await upgrade(server.port, { path: '/api/ws?x=1', cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) });
    expect(r.ok).toBe(true);
    if (r.ok) r.client.close();
  });
});
