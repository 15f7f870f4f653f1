/**
 * R2 Token: a fresh 256-bit token per start, written to an owner-only file,
 * exchanged for an HttpOnly; SameSite=Strict; Path=/ session cookie. The API
 * needs that cookie plus the X-Drillbook header.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { httpRequest, login, privateStateDir, freshToken } from './helpers.ts';

let fleet: SshFleet;
let inventory: string;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;

beforeAll(async () => {
  // A state dir that does not exist yet, so the server creates it (and its mode is its own doing).
  state = privateStateDir('r02');
  fleet = await startSshFleet(['ctl1']);
  inventory = fleet.writeInventory();
  server = await startServer({ port: 0, inventory, log: () => {} });
});

afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
});

const setCookieOf = (h: Record<string, unknown>) => ([] as string[]).concat((h['set-cookie'] as string[] | undefined) ?? []);

describe('R2: start token', () => {
  it('is 256 random bits, in hex', () => {
    expect(server.token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is written to a 0600 file in a 0700 state dir, and nowhere in argv', () => {
    expect(path.dirname(server.tokenFile)).toBe(state.dir);
    expect(statSync(server.tokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(state.dir).mode & 0o777).toBe(0o700);
    const saved = JSON.parse(readFileSync(server.tokenFile, 'utf8'));
    expect(saved).toMatchObject({ token: server.token, port: server.port, url: server.url, pid: process.pid });
    expect(process.argv.join(' ')).not.toContain(server.token);
  });

  it('rotates on restart: a second server has a new token and refuses the old one', async () => {
    const second = await startServer({ port: 0, inventory, log: () => {} });
    try {
      expect(second.token).not.toBe(server.token);
      expect(JSON.parse(readFileSync(second.tokenFile, 'utf8')).token).toBe(second.token);
      const old = await httpRequest(second.port, `/?token=${freshToken(server)}`, { headers: { Host: `127.0.0.1:${second.port}` } });
      expect(old.status).toBe(403);
      expect(setCookieOf(old.headers)).toEqual([]);
      const fresh = await httpRequest(second.port, `/?token=${second.token}`, { headers: { Host: `127.0.0.1:${second.port}` } });
      expect(fresh.status).toBe(303);
    } finally {
      await second.close();
    }
  });

  it('a wrong, truncated or empty token gets 403 and no cookie; the right one gets 303 and a cookie', async () => {
    for (const bad of ['0'.repeat(64), server.token.slice(0, 63), `${server.token}0`, server.token.toUpperCase(), '']) {
      const r = await httpRequest(server.port, `/?token=${bad}`);
      expect(r.status, `token ${JSON.stringify(bad)}`).toBe(403);
      expect(setCookieOf(r.headers)).toEqual([]);
      expect(JSON.parse(r.body).error.code).toBe('refused');
    }
    const ok = await httpRequest(server.port, `/?token=${freshToken(server)}`);
    expect(ok.status).toBe(303);
    expect(setCookieOf(ok.headers)).toHaveLength(1);
  });

  it('is exchanged for an HttpOnly; SameSite=Strict; Path=/ cookie that is not the token itself', async () => {
    const r = await httpRequest(server.port, `/?token=${freshToken(server)}`);
    expect(r.status).toBe(303);
    const [cookie] = setCookieOf(r.headers);
    const parts = cookie.split(';').map((p) => p.trim());
    const [name, value] = parts[0].split('=');
    expect(name).toBe('drillbook_session');
    expect(value).toMatch(/^[0-9a-f]{64}$/);
    expect(value).not.toBe(server.token);
    expect(parts.slice(1)).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/']));
    // A session cookie: it is not persisted beyond the browser session, and is not readable by scripts.
    expect(cookie).not.toMatch(/Expires=|Max-Age=/i);
  });

  it('redirects to the same page without the token, and tells the browser not to leak or cache the URL', async () => {
    const r = await httpRequest(server.port, `/chapters/01-cloud-computing-and-ha/?token=${freshToken(server)}&tab=run`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/chapters/01-cloud-computing-and-ha/?tab=run');
    expect(r.headers.location).not.toContain(server.token);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['referrer-policy']).toBe('no-referrer');
  });

  it('gives every exchange its own session and capability token', async () => {
    const a = await login(server);
    const b = await login(server);
    expect(a.cookie).not.toBe(b.cookie);
    expect(a.wsToken).toMatch(/^[0-9a-f]{64}$/);
    expect(a.wsToken).not.toBe(b.wsToken);
    expect(a.wsToken).not.toBe(server.token);
    expect(a.session.wsPath).toBe('/api/ws');
  });

  it('is single use: a used token is refused, and the token file then holds a fresh one that works', async () => {
    const token = freshToken(server);
    expect((await httpRequest(server.port, `/?token=${token}`)).status).toBe(303);
    const again = await httpRequest(server.port, `/?token=${token}`);
    expect(again.status).toBe(403);
    expect(again.body).toMatch(/already used/);
    const published = JSON.parse(readFileSync(server.tokenFile, 'utf8'));
    expect(published.token).not.toBe(token);
    expect(published.url).toBe(server.freshUrl());
    expect((await httpRequest(server.port, `/?token=${published.token}`)).status).toBe(303);
  });
});

describe('R2: /api/session needs the cookie and the X-Drillbook header', () => {
  it('answers with the capability token when both are present', async () => {
    const { cookie } = await login(server);
    const r = await httpRequest(server.port, '/api/session', { headers: { Cookie: cookie, 'X-Drillbook': '1' } });
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(r.body);
    expect(body.wsToken).toMatch(/^[0-9a-f]{64}$/);
    expect(body.inventory.name).toBe('test');
  });

  it('refuses without a cookie (401), with a made-up cookie (401), or with the start token as cookie (401)', async () => {
    for (const cookie of [undefined, `drillbook_session=${'a'.repeat(64)}`, `drillbook_session=${server.token}`, 'drillbook_session=']) {
      const headers: Record<string, string> = { 'X-Drillbook': '1' };
      if (cookie) headers.Cookie = cookie;
      const r = await httpRequest(server.port, '/api/session', { headers });
      expect(r.status, String(cookie)).toBe(401);
      expect(r.body).not.toMatch(/wsToken/);
    }
  });

  it('refuses a valid cookie without the X-Drillbook: 1 header (403)', async () => {
    const { cookie } = await login(server);
    for (const header of [undefined, '0', 'true']) {
      const headers: Record<string, string> = { Cookie: cookie };
      if (header !== undefined) headers['X-Drillbook'] = header;
      const r = await httpRequest(server.port, '/api/session', { headers });
      expect(r.status, String(header)).toBe(403);
      expect(r.body).not.toMatch(/wsToken/);
    }
  });

  it('refuses the start token itself on the API: it only buys a cookie', async () => {
    const r = await httpRequest(server.port, '/api/session', { headers: { 'X-Drillbook': '1', Authorization: `token ${server.token}` } });
    expect(r.status).toBe(401);
  });
});
