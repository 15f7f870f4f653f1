/**
 * Helpers for the security tests: raw HTTP requests with any Host/Origin,
 * the token → cookie → wsToken login a page performs, WebSocket upgrades
 * with chosen headers, and a message queue over a real `ws` client.
 * Nothing here is a mock: every helper talks to a real server over TCP.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import WebSocket from 'ws';
import type { SshFleet } from '../fixtures/sshd.ts';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request to 127.0.0.1:port with exactly the path and headers given (no URL normalisation). */
export function httpRequest(
  port: number,
  urlPath: string,
  opts: { method?: string; headers?: Record<string, string>; host?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.host ?? '127.0.0.1',
        port,
        path: urlPath,
        method: opts.method ?? 'GET',
        headers: { Host: `127.0.0.1:${port}`, ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Send raw bytes and return the raw response (for requests node:http cannot produce, e.g. no Host). */
export function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    s.on('error', reject);
    s.write(text);
    s.setTimeout(5000, () => s.destroy());
  });
}

export interface Login {
  /** `drillbook_session=…`, ready for a Cookie header. */
  cookie: string;
  /** The full Set-Cookie header the exchange returned. */
  setCookie: string;
  wsToken: string;
  session: { wsToken: string; wsPath: string; inventory?: { name: string } };
}

/** The login token not used yet (login tokens are single use). */
export function freshToken(server: { freshUrl(): string }): string {
  return new URL(server.freshUrl()).searchParams.get('token')!;
}

/** Do what the browser does: exchange the login token for a cookie, then fetch the session. */
export async function login(server: { port: number; freshUrl(): string }): Promise<Login> {
  const r = await httpRequest(server.port, `/?token=${freshToken(server)}`);
  if (r.status !== 303) throw new Error(`token exchange answered ${r.status}: ${r.body}`);
  const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0];
  if (!setCookie) throw new Error('token exchange set no cookie');
  const cookie = setCookie.split(';')[0];
  const s = await httpRequest(server.port, '/api/session', { headers: { Cookie: cookie, 'X-Drillbook': '1' } });
  if (s.status !== 200) throw new Error(`/api/session answered ${s.status}: ${s.body}`);
  const session = JSON.parse(s.body);
  return { cookie, setCookie, wsToken: session.wsToken, session };
}

export function wsProtocols(wsToken: string): string[] {
  return ['drillbook.v1', `drillbook.token.${wsToken}`];
}

/** A connected WebSocket whose messages are queued for `next`. */
export class WsClient {
  private queue: any[] = [];
  private waiters: { pred: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  /** Every message received, in order. */
  readonly all: any[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket, early: any[]) {
    for (const m of early) this.push(m);
    ws.on('message', (data) => this.push(JSON.parse(data.toString())));
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  private push(m: any) {
    this.all.push(m);
    const i = this.waiters.findIndex((w) => w.pred(m));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w.resolve(m);
    } else this.queue.push(m);
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  /** The next message (queued or future) that matches. */
  next(pred: (m: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
    const i = this.queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (m: any) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no matching message within ${timeoutMs} ms; received: ${JSON.stringify(this.all).slice(0, 2000)}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Send a plan/run message and wait for its first answer (plan, run-started or error). */
  async ask(m: { id: string } & Record<string, unknown>, timeoutMs = 10_000): Promise<any> {
    this.send(m);
    return this.next((x) => x.id === m.id && ['plan', 'run-started', 'error'].includes(x.type), timeoutMs);
  }

  /** Send a run message; return its first answer and, if it started, every event up to `done`. */
  async run(m: { id: string } & Record<string, unknown>, timeoutMs = 30_000): Promise<{ first: any; events: any[]; done?: any }> {
    const first = await this.ask(m, timeoutMs);
    if (first.type !== 'run-started') return { first, events: [] };
    const done = await this.next((x) => x.id === m.id && x.type === 'run-event' && x.event.type === 'done', timeoutMs);
    const events = this.all.filter((x) => x.id === m.id && x.type === 'run-event').map((x) => x.event);
    return { first, events, done: done.event };
  }

  /** Messages received for this request id. */
  about(id: string): any[] {
    return this.all.filter((x) => x.id === id);
  }

  close(): void {
    this.ws.terminate();
  }
}

export type UpgradeResult = { ok: true; client: WsClient; protocol: string } | { ok: false; status: number; body: string };

/**
 * Attempt a WebSocket upgrade with exactly these headers. `origin: null`
 * sends no Origin header; `cookie: undefined` sends none.
 */
export function upgrade(
  port: number,
  opts: { host?: string; origin?: string | null; cookie?: string; protocols?: string[]; path?: string } = {},
): Promise<UpgradeResult> {
  const host = opts.host ?? `127.0.0.1:${port}`;
  const headers: Record<string, string> = { Host: host };
  const origin = opts.origin === undefined ? `http://${host}` : opts.origin;
  if (origin !== null) headers.Origin = origin;
  if (opts.cookie) headers.Cookie = opts.cookie;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${opts.path ?? '/api/ws'}`, opts.protocols ?? [], { headers, handshakeTimeout: 5000 });
    const early: any[] = [];
    const onEarly = (d: WebSocket.RawData) => early.push(JSON.parse(d.toString()));
    ws.on('message', onEarly);
    ws.on('error', (e) => reject(e));
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = () => {
        ws.removeAllListeners('error');
        ws.on('error', () => {});
        ws.terminate();
        resolve({ ok: false, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      };
      res.on('end', done);
      res.on('close', done);
    });
    ws.on('open', () => {
      ws.off('message', onEarly);
      resolve({ ok: true, client: new WsClient(ws, early), protocol: ws.protocol });
    });
  });
}

/** Log in and open a WebSocket the way the page does. */
export async function connect(server: { port: number; freshUrl(): string }): Promise<WsClient> {
  const l = await login(server);
  const r = await upgrade(server.port, { cookie: l.cookie, protocols: wsProtocols(l.wsToken) });
  if (!r.ok) throw new Error(`upgrade refused: ${r.status} ${r.body}`);
  return r.client;
}

/** A directory any user can write to, for marker files that scripts on the SSH hosts would create. */
export function markerDir(label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `drillbook-${label}-`));
  chmodSync(dir, 0o1777);
  return dir;
}

export function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** How many SSH logins the fleet's sshd processes have accepted so far (from their own logs). */
export function acceptedLogins(fleet: SshFleet): number {
  let n = 0;
  for (const h of fleet.hosts) {
    const log = path.join(fleet.dir, `sshd_${h.name}.log`);
    if (existsSync(log)) n += readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('Accepted publickey')).length;
  }
  return n;
}

/**
 * A private state dir for one test file (token file, known_hosts), so test
 * files running in parallel never share them. Returns a restore function.
 */
export function privateStateDir(label: string): { dir: string; restore: () => void } {
  const saved = process.env.DRILLBOOK_STATE_DIR;
  const parent = mkdtempSync(path.join(os.tmpdir(), `drillbook-state-${label}-`));
  const dir = path.join(parent, 'state');
  process.env.DRILLBOOK_STATE_DIR = dir;
  return {
    dir,
    restore() {
      if (saved === undefined) delete process.env.DRILLBOOK_STATE_DIR;
      else process.env.DRILLBOOK_STATE_DIR = saved;
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

/** Set DRILLBOOK_CHAPTERS_DIR for the duration of `fn` (the manifest is read when the server starts). */
export async function withChaptersDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.DRILLBOOK_CHAPTERS_DIR;
  process.env.DRILLBOOK_CHAPTERS_DIR = dir;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.DRILLBOOK_CHAPTERS_DIR;
    else process.env.DRILLBOOK_CHAPTERS_DIR = saved;
  }
}

let seq = 0;
/** A fresh request id. */
export function rid(label = 'm'): string {
  return `${label}-${++seq}`;
}

/** The upgrade must be refused with this status and a body that says why; an accepted one fails the test. */
export async function expectUpgradeRefused(port: number, opts: Parameters<typeof upgrade>[1], status: number, reason: RegExp): Promise<void> {
  const r = await upgrade(port, opts);
  if (r.ok) {
    r.client.close();
    throw new Error(`upgrade with ${JSON.stringify(opts)} was accepted`);
  }
  expect(r.status).toBe(status);
  expect(r.body).toMatch(reason);
}
