/**
 * R3 Host allowlist (DNS rebinding): any Host that is not a loopback name on
 * this server's port gets 403, on plain HTTP, on the token exchange, on the
 * API and on the WebSocket upgrade, even when every other credential is right.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { httpRequest, login, privateStateDir, rawRequest, upgrade, wsProtocols, type Login, freshToken } from './helpers.ts';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let auth: Login;
const logs: string[] = [];

beforeAll(async () => {
  state = privateStateDir('r03');
  fleet = await startSshFleet(['ctl1']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory(), log: (m) => logs.push(m) });
  auth = await login(server);
});

afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
});

const foreign = (port: number) => [
  `evil.example:${port}`,
  'evil.example',
  `localhost.evil.example:${port}`,
  `127.0.0.1.nip.io:${port}`,
  `localhost:${port + 1}`,
  `127.0.0.1:${port === 1 ? 2 : port - 1}`,
  `[::2]:${port}`,
  `192.0.2.2:${port}`,
  `0.0.0.0:${port}`,
  `user@localhost:${port}`,
  `localhost:${port}:${port}`,
  `localhost.:${port}`,
];

describe('R3: Host allowlist on HTTP', () => {
  it('serves the loopback names on its own port', async () => {
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`, `LocalHost:${server.port}`]) {
      const r = await httpRequest(server.port, '/', { headers: { Host: host } });
      expect(r.status, host).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
    }
  });

  it('answers 403 to every foreign Host, for pages, assets and the API', async () => {
    for (const host of foreign(server.port)) {
      for (const p of ['/', '/favicon.svg', '/api/session', '/404.html']) {
        const r = await httpRequest(server.port, p, { headers: { Host: host, Cookie: auth.cookie, 'X-Drillbook': '1' } });
        expect(r.status, `${host} ${p}`).toBe(403);
        expect(JSON.parse(r.body).error).toMatchObject({ code: 'refused', message: expect.stringContaining('is not allowed') });
        expect(r.body).not.toContain(auth.wsToken);
      }
    }
  });

  it('does not exchange the start token under a foreign Host', async () => {
    const r = await httpRequest(server.port, `/?token=${freshToken(server)}`, { headers: { Host: `evil.example:${server.port}` } });
    expect(r.status).toBe(403);
    expect(r.headers['set-cookie']).toBeUndefined();
    const ok = await httpRequest(server.port, `/?token=${freshToken(server)}`, { headers: { Host: `localhost:${server.port}` } });
    expect(ok.status).toBe(303);
    expect(ok.headers['set-cookie']).toHaveLength(1);
  });

  it('refuses a request with no Host header at all', async () => {
    const refused = await rawRequest(server.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(refused).toMatch(/^HTTP\/1\.[01] 403 /);
    const allowed = await rawRequest(server.port, `GET / HTTP/1.0\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
    expect(allowed).toMatch(/^HTTP\/1\.[01] 200 /);
  });

  it('logs each refusal with the Host it refused', async () => {
    await httpRequest(server.port, '/r03-logged', { headers: { Host: `rebind.evil.example:${server.port}` } });
    expect(logs.some((l) => l.includes(`Host "rebind.evil.example:${server.port}"`) && l.includes('/r03-logged'))).toBe(true);
  });
});

describe('R3: Host allowlist on the WebSocket upgrade', () => {
  it('opens with a loopback Host, matching Origin, cookie and capability token', async () => {
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`]) {
      const r = await upgrade(server.port, { host, cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) });
      expect(r.ok, host).toBe(true);
      if (r.ok) r.client.close();
    }
  });

  it('answers 403 to a foreign Host even with a matching Origin, cookie and token', async () => {
    for (const host of foreign(server.port)) {
      const r = await upgrade(server.port, { host, origin: `http://${host}`, cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) });
      expect(r.ok, host).toBe(false);
      if (!r.ok) {
        expect(r.status, host).toBe(403);
        expect(r.body).toContain('is not allowed');
      }
    }
  });
});
