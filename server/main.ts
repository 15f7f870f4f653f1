/**
 * `drillbook serve`: one Node process serving the built site and the
 * WebSocket API on one loopback origin.
 */
import http from 'node:http';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { Refused } from '../src/runbook/errors.ts';
import { projectRoot } from '../src/runbook/topology.ts';
import { Gate, type Session } from './gate.ts';
import { RunnerSession, inventoryFileFor, type TargetSelection } from './runner/session.ts';
import { stateDir, writePrivate } from './state.ts';
import { SECURITY_HEADERS, serveStatic } from './static.ts';
import { attachConnection, summarise } from './ws/handlers.ts';
import { LabManager } from './lab/manager.ts';
import { DEFAULT_IDLE_MS, TerminalManager } from './terminal/manager.ts';
import { TerminalEndpoint } from './terminal/ws.ts';

export interface ServeOptions extends TargetSelection {
  port?: number;
  /** Bind address; loopback unless explicitly configured. */
  bind?: string;
  distDir?: string;
  log?: (msg: string) => void;
  /** The browser terminal (a full shell on the hosts and on this machine): off unless set. */
  terminal?: boolean;
  /** End a terminal after this long without activity (default 15 minutes). */
  terminalIdleMs?: number;
  /** End a login session after this long without a request or WebSocket message (default 12 hours). */
  sessionIdleMs?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  /** The first login token (single use). */
  token: string;
  tokenFile: string;
  /** A login link that has not been used yet. */
  freshUrl(): string;
  session: RunnerSession;
  /** The browser terminals, when `terminal` is on. */
  terminals?: TerminalManager;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function startServer(opts: ServeOptions = {}): Promise<RunningServer> {
  const bind = opts.bind ?? '127.0.0.1';
  if (!LOOPBACK.has(bind)) {
    throw new Refused(`refusing to bind ${bind}: Drillbook runs commands on your clusters and only listens on loopback`, '--bind', 'reach it from elsewhere through an SSH tunnel: ssh -L 4321:127.0.0.1:4321 this-host');
  }
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const dist = path.resolve(opts.distDir ?? path.join(projectRoot(), 'dist'));
  const session = new RunnerSession({ inventory: opts.inventory, lab: opts.lab, allowBreaks: opts.allowBreaks });
  const lab = new LabManager(session.selection);
  const terminals = opts.terminal ? new TerminalManager(session, { idleMs: opts.terminalIdleMs ?? DEFAULT_IDLE_MS, log }) : undefined;
  inventoryFileFor(session.selection); // usage errors now, not at the first click
  let port = opts.port ?? 0;
  const tokenFile = path.join(stateDir(), 'server.json');
  const host = bind === '::1' ? '[::1]' : bind === 'localhost' ? '127.0.0.1' : bind;
  const loginUrl = (token: string) => `http://${host}:${port}/?token=${token}`;
  // The token file always holds a login link that has not been used yet.
  const publish = (token: string) => writePrivate(tokenFile, JSON.stringify({ url: loginUrl(token), port, pid: process.pid, token }, null, 2) + '\n');
  const gate = new Gate(() => port, [], log, publish, opts.sessionIdleMs);
  // The step WebSockets of each login session: closed when the session ends.
  const sockets = new Map<Session, Set<WebSocket>>();
  const sweeper = setInterval(() => {
    for (const s of gate.sweep()) {
      for (const ws of sockets.get(s) ?? []) ws.close(4001, 'session ended after idle time: open a new login link');
      sockets.delete(s);
    }
  }, Math.min(60_000, Math.max(250, Math.floor(gate.sessionIdleMs / 4))));
  sweeper.unref();

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const refusal = gate.checkHost(req);
    if (refusal) return json(res, refusal.status, { error: { code: 'refused', message: refusal.reason } });
    const url = new URL(req.url ?? '/', 'http://placeholder');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, Allow: 'GET, HEAD' });
      return res.end();
    }
    if (url.searchParams.has('token')) {
      const cookie = gate.exchange(url.searchParams.get('token'));
      if (!cookie) return json(res, 403, { error: { code: 'refused', message: 'invalid or already used login token', hint: 'login links work once; `npx drillbook open` prints a fresh one for the running server' } });
      url.searchParams.delete('token');
      res.writeHead(303, { ...SECURITY_HEADERS, 'Set-Cookie': cookie, Location: url.pathname + url.search, 'Cache-Control': 'no-store' });
      return res.end();
    }
    if (url.pathname === '/api/session') {
      const ok = gate.checkApi(req);
      if ('status' in ok) return json(res, ok.status, { error: { code: 'refused', message: ok.reason } });
      let inventory;
      let problem;
      try {
        inventory = summarise(session.inventory());
      } catch (e) {
        problem = (e as { toJSON?: () => unknown }).toJSON?.() ?? { code: 'internal', message: String(e) };
      }
      const term = terminals ? { terminal: true, termToken: ok.session.termToken, termPath: '/api/term' } : { terminal: false };
      return json(res, 200, { wsToken: ok.session.wsToken, wsPath: '/api/ws', ...term, inventory, problem });
    }
    if (url.pathname.startsWith('/api/')) return json(res, 404, { error: { code: 'not-found', message: `no API ${url.pathname}` } });
    serveStatic(dist, req, res, url.pathname);
  });

  const termEndpoint = terminals ? new TerminalEndpoint(terminals) : undefined;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024, handleProtocols: (protocols) => (protocols.has('drillbook.v1') ? 'drillbook.v1' : false) });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    if (url.pathname === '/api/term') {
      const v = termEndpoint ? gate.checkTerminalUpgrade(req) : { status: 403 as const, reason: 'the terminal is off: start the server with `drillbook serve --terminal` to enable it' };
      if ('status' in v) {
        socket.end(`HTTP/1.1 ${v.status} ${v.status === 401 ? 'Unauthorized' : 'Forbidden'}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${v.reason}\n`);
        return;
      }
      return termEndpoint!.handleUpgrade(req, socket, head, v.owner);
    }
    const verdict = url.pathname === '/api/ws' ? gate.checkUpgrade(req) : { status: 404 as const, reason: 'no WebSocket here' };
    if ('status' in verdict) {
      const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[verdict.status];
      socket.end(`HTTP/1.1 ${verdict.status} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${verdict.reason}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const owned = sockets.get(verdict.session) ?? new Set<WebSocket>();
      sockets.set(verdict.session, owned.add(ws));
      ws.on('close', () => owned.delete(ws));
      attachConnection(ws, session, lab, () => gate.touch(verdict.session));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => resolve());
  });
  port = (server.address() as { port: number }).port;
  const url = loginUrl(gate.startToken);
  publish(gate.startToken);

  return {
    url,
    port,
    token: gate.startToken,
    freshUrl: () => loginUrl(gate.startToken),
    tokenFile,
    session,
    terminals,
    async close() {
      clearInterval(sweeper);
      await terminals?.closeAll();
      await termEndpoint?.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      await session.close();
    },
  };
}
