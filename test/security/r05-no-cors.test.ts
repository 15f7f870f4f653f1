/**
 * R5 CSRF/CORS: no Access-Control-Allow-Origin on any response (not `*`,
 * not a reflected Origin), no preflight is ever granted, and only GET/HEAD
 * are served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { httpRequest, login, privateStateDir, type HttpResult, type Login, freshToken } from './helpers.ts';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let auth: Login;

beforeAll(async () => {
  state = privateStateDir('r05');
  fleet = await startSshFleet(['ctl1']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory(), log: () => {} });
  auth = await login(server);
});

afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
});

function expectNoCors(r: HttpResult, what: string) {
  const cors = Object.keys(r.headers).filter((h) => h.startsWith('access-control-'));
  expect(cors, what).toEqual([]);
}

const origins = (port: number) => ['http://evil.example', `http://localhost:${port + 1}`, 'null', `http://127.0.0.1:${port}`];

describe('R5: no CORS headers, whatever the request says', () => {
  it('answers page, asset, 404 and API requests with no Access-Control-* header, even when they carry an Origin', async () => {
    const requests: [string, Record<string, string>, number][] = [
      ['/', {}, 200],
      ['/favicon.svg', {}, 200],
      ['/no-such-page', {}, 404],
      ['/api/session', { Cookie: auth.cookie, 'X-Drillbook': '1' }, 200],
      ['/api/session', { 'X-Drillbook': '1' }, 401],
      ['/api/nothing', { Cookie: auth.cookie, 'X-Drillbook': '1' }, 404],
    ];
    for (const origin of origins(server.port)) {
      for (const [p, headers, status] of requests) {
        const r = await httpRequest(server.port, p, { headers: { ...headers, Origin: origin } });
        expect(r.status, `${origin} ${p}`).toBe(status);
        expectNoCors(r, `${origin} ${p}`);
      }
    }
  });

  it('grants no preflight: OPTIONS gets 405 with no Access-Control-* header', async () => {
    for (const origin of origins(server.port)) {
      const r = await httpRequest(server.port, '/api/session', {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-drillbook' },
      });
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
      expectNoCors(r, origin);
    }
  });

  it('serves GET and HEAD only: POST, PUT, DELETE and PATCH get 405, also with a valid session', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const p of ['/api/session', `/?token=${freshToken(server)}`, '/api/ws']) {
        const r = await httpRequest(server.port, p, { method, headers: { Cookie: auth.cookie, 'X-Drillbook': '1', Origin: 'http://evil.example' } });
        expect(r.status, `${method} ${p}`).toBe(405);
        expect(r.headers['set-cookie'], `${method} ${p}`).toBeUndefined();
        expect(r.body).toBe('');
        expectNoCors(r, `${method} ${p}`);
      }
    }
    const head = await httpRequest(server.port, '/', { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('sends the headers that stop other origins from embedding or reading its responses', async () => {
    for (const p of ['/', '/api/session', '/no-such-page']) {
      const r = await httpRequest(server.port, p, { headers: { Cookie: auth.cookie, 'X-Drillbook': '1' } });
      expect(r.headers['cross-origin-resource-policy'], p).toBe('same-origin');
      expect(r.headers['x-frame-options'], p).toBe('DENY');
      expect(r.headers['x-content-type-options'], p).toBe('nosniff');
      expect(r.headers['content-security-policy'], p).toContain("frame-ancestors 'none'");
    }
  });
});
