/**
 * The one gate. Every HTTP request and every WebSocket upgrade passes here
 * before routing: Host allowlist (DNS rebinding), the start token exchanged
 * for an HttpOnly SameSite=Strict session cookie, and on upgrade an exact
 * Origin match plus a per-session capability token. Refusals say why and
 * are logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const COOKIE = 'drillbook_session';
export const WS_PROTOCOL = 'drillbook.v1';
export const WS_TOKEN_PREFIX = 'drillbook.token.';
/** The browser terminal's own protocol and capability prefix (a full shell: never the step capability). */
export const TERM_PROTOCOL = 'drillbook.terminal.v1';
export const TERM_TOKEN_PREFIX = 'drillbook.term.';
/** Header the page sends on API calls; a cross-origin page cannot send it without a CORS preflight we never grant. */
export const API_HEADER = 'x-drillbook';

export function newToken(): string {
  return randomBytes(32).toString('hex');
}

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

export type Refusal = { status: 401 | 403; reason: string };

export interface Session {
  wsToken: string;
  /** Capability for the terminal WebSocket, distinct from wsToken. */
  termToken: string;
  created: number;
  /** Last request, upgrade or WebSocket message from this session (ms since the epoch). */
  lastSeen: number;
}

/** A login session ends after this long without a request or a WebSocket message. */
export const DEFAULT_SESSION_IDLE_MS = 12 * 60 * 60_000;

export class Gate {
  /** The login token. Single use: each exchange replaces it (and `onRotate` publishes the new one). */
  startToken = newToken();
  private sessions = new Map<string, Session>();
  private readonly allowedNames: Set<string>;

  constructor(
    readonly port: () => number,
    extraHosts: string[] = [],
    private readonly log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
    private readonly onRotate: (token: string) => void = () => {},
    readonly sessionIdleMs = DEFAULT_SESSION_IDLE_MS,
  ) {
    this.allowedNames = new Set(['localhost', '127.0.0.1', '[::1]', ...extraHosts.map((h) => h.toLowerCase())]);
  }

  /** Host header must name this server by a loopback name (or a configured one) and its port. */
  checkHost(req: IncomingMessage): Refusal | undefined {
    const host = (req.headers.host ?? '').toLowerCase();
    const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d+))?$/.exec(host);
    if (!m || !this.allowedNames.has(m[1]) || (m[2] !== undefined && Number(m[2]) !== this.port())) {
      this.log(`drillbook: refused request with Host "${host}" (${req.method} ${req.url}); allowed: ${[...this.allowedNames].join(', ')} on port ${this.port()}`);
      return { status: 403, reason: `Host "${host}" is not allowed` };
    }
    return undefined;
  }

  /** Exchange the login token (from ?token=) for a new session; returns the cookie header. */
  exchange(token: string | null): string | undefined {
    if (!token || !sameSecret(token, this.startToken)) return undefined;
    this.startToken = newToken();
    this.onRotate(this.startToken);
    this.sweep();
    const id = newToken();
    const now = Date.now();
    this.sessions.set(id, { wsToken: newToken(), termToken: newToken(), created: now, lastSeen: now });
    return `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** Keep a session alive (a WebSocket message counts as activity). */
  touch(session: Session): void {
    session.lastSeen = Date.now();
  }

  /** Forget sessions idle for longer than sessionIdleMs; returns them so their sockets can be closed. */
  sweep(now = Date.now()): Session[] {
    const gone: Session[] = [];
    for (const [id, s] of this.sessions) {
      if (now - s.lastSeen <= this.sessionIdleMs) continue;
      this.sessions.delete(id);
      gone.push(s);
    }
    if (gone.length) this.log(`drillbook: ${gone.length} login session${gone.length > 1 ? 's' : ''} ended after ${Math.round(this.sessionIdleMs / 60_000)} min without activity`);
    return gone;
  }

  private sessionOf(req: IncomingMessage): Session | undefined {
    const cookies = (req.headers.cookie ?? '').split(';').map((c) => c.trim());
    for (const c of cookies) {
      const [k, v] = c.split('=', 2);
      if (k !== COOKIE || !v) continue;
      for (const [id, s] of this.sessions) {
        if (!sameSecret(v, id)) continue;
        if (Date.now() - s.lastSeen > this.sessionIdleMs) {
          this.sessions.delete(id);
          return undefined;
        }
        s.lastSeen = Date.now();
        return s;
      }
    }
    return undefined;
  }

  /** API call from the page: session cookie plus the custom header. */
  checkApi(req: IncomingMessage): { session: Session } | Refusal {
    if (req.headers[API_HEADER] !== '1') return { status: 403, reason: `missing ${API_HEADER} header` };
    const session = this.sessionOf(req);
    if (!session) return { status: 401, reason: 'no session (or it ended after a long idle time): open a login link; `npx drillbook open` prints one for the running server' };
    return { session };
  }

  /** The origin this request's Host names, e.g. http://127.0.0.1:4321. */
  servedOrigin(req: IncomingMessage): string {
    return `http://${(req.headers.host ?? '').toLowerCase()}`;
  }

  /** WebSocket upgrade: Host, exact Origin, session cookie and capability token, all required. */
  checkUpgrade(req: IncomingMessage): Refusal | { protocol: string; session: Session } {
    return this.checkCapabilityUpgrade(req, { what: 'WebSocket', protocol: WS_PROTOCOL, prefix: WS_TOKEN_PREFIX, token: (s) => s.wsToken, capability: 'session', reason: 'missing or wrong capability token' });
  }

  /**
   * Terminal WebSocket upgrade: the same Host, exact Origin and cookie rules,
   * plus the session's terminal capability (`drillbook.term.<termToken>`).
   * The step capability does not open a terminal. `owner` is the login
   * session the terminals belong to.
   */
  checkTerminalUpgrade(req: IncomingMessage): Refusal | { protocol: string; owner: object } {
    const v = this.checkCapabilityUpgrade(req, { what: 'terminal WebSocket', protocol: TERM_PROTOCOL, prefix: TERM_TOKEN_PREFIX, token: (s) => s.termToken, capability: 'terminal', reason: 'missing or wrong terminal capability token' });
    return 'status' in v ? v : { protocol: v.protocol, owner: v.session };
  }

  /** The rules every WebSocket upgrade passes: Host, exact Origin, session cookie, then its own protocol and capability. */
  private checkCapabilityUpgrade(
    req: IncomingMessage,
    kind: { what: string; protocol: string; prefix: string; token: (s: Session) => string; capability: string; reason: string },
  ): Refusal | { protocol: string; session: Session } {
    const host = this.checkHost(req);
    if (host) return host;
    const origin = req.headers.origin;
    const expected = this.servedOrigin(req);
    if (origin !== expected) {
      this.log(`drillbook: refused ${kind.what} from Origin ${origin ?? '(none)'}; only ${expected} may connect`);
      return { status: 403, reason: `Origin ${origin ?? '(none)'} is not ${expected}` };
    }
    const session = this.sessionOf(req);
    if (!session) {
      this.log(`drillbook: refused ${kind.what} without a valid session cookie`);
      return { status: 401, reason: 'no session cookie' };
    }
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const cap = protocols.find((p) => p.startsWith(kind.prefix))?.slice(kind.prefix.length);
    if (!protocols.includes(kind.protocol) || !sameSecret(cap, kind.token(session))) {
      this.log(`drillbook: refused ${kind.what} without the ${kind.capability} capability token`);
      return { status: 401, reason: kind.reason };
    }
    return { protocol: kind.protocol, session };
  }
}
