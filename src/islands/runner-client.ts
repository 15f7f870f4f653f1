/**
 * The page's connection to `drillbook serve`: one per page, shared by every
 * step. It asks /api/session (cookie + custom header) for a capability
 * token, then opens the WebSocket with that token as a subprotocol. When
 * there is no runner (static hosting, server stopped) it resolves to null
 * and the page stays plain documentation.
 */

export interface InventorySummary {
  name: string;
  profile: 'lab' | 'production';
  fingerprint: string;
  hosts: { name: string; address: string }[];
  groups: Record<string, string[]>;
}
export interface ErrorBody {
  code: string;
  message: string;
  where?: string;
  hint?: string;
}
type Listener = (msg: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface RunnerConnection {
  inventory?: InventorySummary;
  problem?: ErrorBody;
  send(msg: Record<string, unknown>, onReply: Listener): string;
  off(id: string): void;
  /** `reason`: what the server said when it closed the connection (e.g. the login session ended), if anything. */
  onClose(fn: (reason?: string) => void): void;
}

let pending: Promise<RunnerConnection | null> | undefined;
let counter = 0;

export function connectRunner(): Promise<RunnerConnection | null> {
  pending ??= open();
  return pending;
}

async function open(): Promise<RunnerConnection | null> {
  let session: { wsToken: string; wsPath: string; inventory?: InventorySummary; problem?: ErrorBody };
  try {
    const res = await fetch('/api/session', { headers: { 'X-Drillbook': '1' }, credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) return null;
    session = await res.json();
  } catch {
    return null;
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}${session.wsPath}`, ['drillbook.v1', `drillbook.token.${session.wsToken}`]);
  const listeners = new Map<string, Listener>();
  const closers: ((reason?: string) => void)[] = [];
  const ready = await new Promise<boolean>((resolve) => {
    ws.addEventListener('open', () => resolve(true), { once: true });
    ws.addEventListener('error', () => resolve(false), { once: true });
  });
  if (!ready) return null;
  ws.addEventListener('message', (ev) => {
    const msg = JSON.parse(String(ev.data));
    if (msg.id && listeners.has(msg.id)) listeners.get(msg.id)!(msg);
  });
  ws.addEventListener('close', (ev) => {
    pending = undefined;
    closers.forEach((fn) => fn(ev.reason || undefined));
  });
  return {
    inventory: session.inventory,
    problem: session.problem,
    send(msg, onReply) {
      const id = `r${++counter}`;
      listeners.set(id, onReply);
      ws.send(JSON.stringify({ ...msg, id }));
      return id;
    },
    off(id) {
      listeners.delete(id);
    },
    onClose(fn) {
      closers.push(fn);
    },
  };
}
