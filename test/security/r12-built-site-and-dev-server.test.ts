/**
 * R12: the runner serves the built site itself (dist/, same origin as its
 * API), never a file outside dist/, and is never part of the Astro/Vite dev
 * server, whose own host checks stay on.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/runbook/topology.ts';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { httpRequest, privateStateDir, rawRequest } from './helpers.ts';

const root = projectRoot();
const dist = path.join(root, 'dist');

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let notFoundPage: string;

beforeAll(async () => {
  state = privateStateDir('r12');
  fleet = await startSshFleet(['ctl1']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory(), log: () => {} });
  notFoundPage = readFileSync(path.join(dist, '404.html'), 'utf8');
});

afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
});

/** Text that would show that a file outside dist/ was served. */
const outside = [
  'root:x:0:0', // /etc/passwd
  '"name": "drillbook"', // package.json, next to dist/
  'export async function startServer', // server/main.ts
  'privateStateDir', // this test directory's helpers.ts
];

describe('R12: serves dist/ and nothing else', () => {
  it('serves files of the built site byte for byte (the allowed counterpart)', async () => {
    for (const [url, file] of [
      ['/', 'index.html'],
      ['/favicon.svg', 'favicon.svg'],
      ['/%66avicon.svg', 'favicon.svg'],
      ['/chapters/01-cloud-computing-and-ha/', 'chapters/01-cloud-computing-and-ha/index.html'],
    ]) {
      const r = await httpRequest(server.port, url);
      expect(r.status, url).toBe(200);
      expect(r.body, url).toBe(readFileSync(path.join(dist, file), 'utf8'));
    }
  });

  it.each([
    '/../../etc/passwd',
    '/../package.json',
    '/../../../../../../../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/%2E%2E%2Fpackage.json',
    '/..%2fpackage.json',
    '/..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/chapters/../../package.json',
    '/chapters/%2e%2e/%2e%2e/package.json',
    '/chapters%2f..%2f..%2fserver%2fmain.ts',
    '/..%2ftest%2fsecurity%2fhelpers.ts',
    '/%252e%252e%252fpackage.json',
    '/..%5c..%5cpackage.json',
    '/....//....//etc/passwd',
    '/.%2e/package.json',
    '/%c0%ae%c0%ae/package.json',
    '/%2e%2e%00/package.json',
    '/favicon.svg%00.html',
    '/%',
    '//etc/passwd',
    '/etc/passwd',
    `/${root.slice(1)}/package.json`,
  ])('never serves a file outside dist/ for %s', async (url) => {
    const r = await httpRequest(server.port, url);
    expect(r.status).toBe(404);
    expect(r.body).toBe(notFoundPage);
    for (const text of outside) expect(r.body).not.toContain(text);
  });

  it('also refuses traversal sent as an absolute-form request target', async () => {
    const res = await rawRequest(server.port, `GET http://127.0.0.1:${server.port}/../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1\.1 404 /);
    for (const text of outside) expect(res).not.toContain(text);
  });

  it('serves the site and the API on the same origin', async () => {
    const page = await httpRequest(server.port, '/');
    const api = await httpRequest(server.port, '/api/session');
    expect(page.status).toBe(200);
    expect(api.status).toBe(403); // the runner's gate, on the very same port
    expect(page.headers['content-security-policy']).toContain("connect-src 'self'");
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : /\.(ts|tsx|mts|mjs|js|astro|mdx)$/.test(name) ? [p] : [];
  });
}

describe('R12: the runner is never mounted into the dev server', () => {
  it('neither astro.config.mjs nor anything under src/ imports the server', () => {
    const files = [path.join(root, 'astro.config.mjs'), ...sourceFiles(path.join(root, 'src'))];
    expect(files.length).toBeGreaterThan(5);
    const offenders = files.filter((f) => {
      const text = readFileSync(f, 'utf8');
      return /(?:from|import)\s*\(?\s*['"][^'"]*\/server\//.test(text) || /['"](?:ssh2|node-pty|ws)['"]/.test(text);
    });
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });

  it('keeps the dev server on loopback with a host allowlist', async () => {
    const { default: config } = await import('../../astro.config.mjs');
    expect(config.server).toMatchObject({ host: '127.0.0.1' });
    const allowed = config.vite?.server?.allowedHosts;
    expect(Array.isArray(allowed)).toBe(true);
    expect(allowed).not.toContain(true);
    for (const h of allowed as string[]) expect(['localhost', '127.0.0.1', '[::1]', '::1']).toContain(h);
  });

  it('uses a Vite release with the dev-server CORS/WebSocket fix (CVE-2025-24010, fixed in 6.0.9)', () => {
    const { version } = JSON.parse(readFileSync(path.join(root, 'node_modules', 'vite', 'package.json'), 'utf8'));
    const [major, minor, patch] = version.split('.').map((n: string) => parseInt(n, 10));
    expect(major).toBeGreaterThanOrEqual(6);
    if (major === 6) expect(minor > 0 || patch >= 9, version).toBe(true);
  });
});
