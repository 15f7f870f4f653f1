/**
 * The browser terminal's server side against real shells: OpenSSH `sshd`
 * hosts (an ssh2 shell channel with a PTY on the pooled connection) and
 * this machine (node-pty), driven over the real `/api/term` WebSocket the
 * page uses. Typing, resize, flow control under a large output, reattach
 * with scrollback replay, idle timeout, close and shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { httpRequest, privateStateDir } from '../security/helpers.ts';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let auth: TermLogin;

interface TermLogin {
  cookie: string;
  termToken: string;
  port: number;
}

async function termLogin(s: RunningServer): Promise<TermLogin> {
  const token = new URL(s.freshUrl()).searchParams.get('token')!;
  const r = await httpRequest(s.port, `/?token=${token}`);
  const cookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0].split(';')[0];
  const session = JSON.parse((await httpRequest(s.port, '/api/session', { headers: { Cookie: cookie, 'X-Drillbook': '1' } })).body);
  expect(session).toMatchObject({ terminal: true, termPath: '/api/term' });
  return { cookie, termToken: session.termToken, port: s.port };
}

/** A terminal page, as far as the server can tell: control messages, output bytes, acknowledgements. */
class TermClient {
  readonly control: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Bytes received. */
  received = 0;
  /** Bytes acknowledged. */
  acked = 0;
  /** The latest output (bounded, for matching). */
  tail = '';
  /** Acknowledge output as it arrives (as xterm's write callback does). */
  autoAck = true;
  readonly closed: Promise<number>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const b = data as Buffer;
        this.received += b.length;
        this.tail = (this.tail + b.toString('utf8')).slice(-512 * 1024);
        if (this.autoAck) this.ack();
      } else this.control.push(JSON.parse(data.toString()));
      for (const w of [...this.waiters]) w();
    });
    this.closed = new Promise((r) => ws.on('close', (code) => r(code)));
  }

  static async connect(login: TermLogin): Promise<TermClient> {
    const origin = `http://127.0.0.1:${login.port}`;
    const ws = new WebSocket(`ws://127.0.0.1:${login.port}/api/term`, ['drillbook.terminal.v1', `drillbook.term.${login.termToken}`], { headers: { Origin: origin, Cookie: login.cookie } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new TermClient(ws);
  }

  send(m: Record<string, unknown>) {
    this.ws.send(JSON.stringify(m));
  }
  type(text: string) {
    this.ws.send(Buffer.from(text), { binary: true });
  }
  ack() {
    const n = this.received - this.acked;
    if (n > 0 && this.ws.readyState === WebSocket.OPEN) this.send({ type: 'ack', bytes: n });
    this.acked = this.received;
  }

  /** Wait until `pred` holds (checked on every message). */
  until(pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = () => {
        if (!pred()) return;
        clearTimeout(t);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        resolve();
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; control: ${JSON.stringify(this.control)}; output tail: ${JSON.stringify(this.tail.slice(-600))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  async message(type: string, timeoutMs?: number) {
    await this.until(() => this.control.some((m) => m.type === type), `a "${type}" message`, timeoutMs);
    return this.control.find((m) => m.type === type);
  }

  /** Output matching `re` after the bytes seen so far. */
  async output(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray> {
    let m: RegExpExecArray | null = null;
    await this.until(() => (m = re.exec(this.tail)) !== null, `output ${re}`, timeoutMs);
    return m!;
  }

  close() {
    this.ws.close();
  }
}

async function openShell(target: { kind: 'host'; host: string } | { kind: 'local' }, size = { cols: 100, rows: 30 }, login = auth) {
  const c = await TermClient.connect(login);
  c.send({ type: 'open', target, ...size });
  const ready = await c.message('ready');
  return { c, ready, id: ready.id as string };
}

/** `echo` a marker and return what the shell printed after it. */
async function ask(c: TermClient, command: string, tag: string): Promise<string> {
  c.type(`echo "<${tag}>$(${command})</${tag}>"\r`);
  // The echoed command line holds `<tag>$(` — only the output holds `<tag>` followed by text.
  const m = await c.output(new RegExp(`<${tag}>([^<$]*)</${tag}>`));
  return m[1];
}

beforeAll(async () => {
  state = privateStateDir('terminal');
  fleet = await startSshFleet(['ctl1', 'ctl2']);
  server = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'term-lab' }), terminal: true, log: () => {} });
  auth = await termLogin(server);
});

afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
});

describe('a shell on an inventory host (ssh2, PTY)', () => {
  it('opens over the WebSocket, runs what is typed and streams its output', async () => {
    const { c, ready } = await openShell({ kind: 'host', host: 'ctl1' });
    expect(ready).toMatchObject({ label: 'ctl1', target: { kind: 'host', host: 'ctl1' }, opened: true, replay: 0 });
    expect(ready.detail).toMatch(/^drillbook-test@127\.0\.0\.1:\d+$/);
    c.type('echo hello-$((6*7))\r');
    await c.output(/[\r\n]hello-42\r\n/);
    expect(await ask(c, 'whoami', 'who')).toBe('drillbook-test');
    expect(await ask(c, 'tty', 'tty')).toMatch(/^\/dev\/pts\/\d+$/);
    c.send({ type: 'close' });
    const ended = await c.message('ended');
    expect(ended.reason).toBe('closed from the page');
    expect(await c.closed).toBe(1000);
  });

  it('follows the page size: resize reaches the PTY (stty size)', async () => {
    const { c } = await openShell({ kind: 'host', host: 'ctl2' }, { cols: 91, rows: 27 });
    expect(await ask(c, 'stty size', 'size1')).toBe('27 91');
    c.send({ type: 'resize', cols: 132, rows: 43 });
    expect(await ask(c, 'stty size', 'size2')).toBe('43 132');
    c.send({ type: 'close' });
    await c.closed;
  });

  it('refuses a host that is not in the inventory, saying which hosts are', async () => {
    const c = await TermClient.connect(auth);
    c.send({ type: 'open', target: { kind: 'host', host: 'db9' }, cols: 80, rows: 24 });
    const err = await c.message('error');
    expect(err.error).toMatchObject({ code: 'refused', message: 'no host "db9" in inventory term-lab', hint: 'hosts: ctl1, ctl2' });
    await c.closed;
  });

  it('says why when the host is down', async () => {
    await fleet.hosts[1].stop();
    try {
      const fresh = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'term-down' }), terminal: true, log: () => {} });
      try {
        const c = await TermClient.connect(await termLogin(fresh));
        c.send({ type: 'open', target: { kind: 'host', host: 'ctl2' }, cols: 80, rows: 24 });
        const err = await c.message('error');
        expect(err.error).toMatchObject({ code: 'unreachable', where: 'ctl2' });
        expect(err.error.message).toMatch(/cannot reach 127\.0\.0\.1:\d+: connection refused/);
      } finally {
        await fresh.close();
      }
    } finally {
      await fleet.hosts[1].start();
    }
  });

  it('keeps channels for steps: at most 4 terminals per host', async () => {
    const open = await Promise.all([1, 2, 3, 4].map(() => openShell({ kind: 'host', host: 'ctl1' })));
    const c = await TermClient.connect(auth);
    c.send({ type: 'open', target: { kind: 'host', host: 'ctl1' }, cols: 80, rows: 24 });
    const err = await c.message('error');
    expect(err.error.message).toBe('4 terminals are open on ctl1 already');
    for (const o of open) {
      o.c.send({ type: 'close' });
      await o.c.closed;
    }
  });
});

describe('a shell on this machine (node-pty)', () => {
  it('opens a login shell, runs what is typed, follows resize', async () => {
    const { c, ready } = await openShell({ kind: 'local' }, { cols: 77, rows: 19 });
    expect(ready).toMatchObject({ label: 'this machine', target: { kind: 'local' } });
    c.type('echo local-$((2+3))\r');
    await c.output(/[\r\n]local-5\r\n/);
    expect(await ask(c, 'stty size', 'lsize1')).toBe('19 77');
    c.send({ type: 'resize', cols: 150, rows: 50 });
    expect(await ask(c, 'stty size', 'lsize2')).toBe('50 150');
    // Closing the tab ends the shell process.
    const pid = Number(await ask(c, 'echo $$', 'lpid'));
    expect(processExists(pid)).toBe(true);
    c.send({ type: 'close' });
    await c.closed;
    await waitFor(() => !processExists(pid), 'the local shell to exit');
  });
});

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(pred: () => boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const HIGH = 1024 * 1024;

describe('flow control', () => {
  for (const target of [{ kind: 'host', host: 'ctl1' } as const, { kind: 'local' } as const]) {
    it(`pauses ${target.kind === 'local' ? 'node-pty' : 'the ssh channel'} when the page stops acknowledging, resumes when it catches up`, async () => {
      const { c, id } = await openShell(target);
      await c.output(/[$#] $/);
      // ~27 MB of output.
      c.type('head -c 20000000 /dev/zero | base64; echo "flow-$((40+2))"\r');
      await c.until(() => c.received > 200_000, 'output to start');
      c.autoAck = false;
      // The page stops acknowledging: what reaches it stops near the high-water mark.
      let last = -1;
      for (let stable = 0; stable < 8; ) {
        await new Promise((r) => setTimeout(r, 150));
        stable = c.received === last ? stable + 1 : 0;
        last = c.received;
      }
      const stats = server.terminals!.stats(id)!;
      expect(stats.paused).toBe(true);
      expect(c.received - c.acked).toBeGreaterThan(HIGH);
      expect(c.received - c.acked).toBeLessThan(HIGH + 256 * 1024);
      expect(stats.unacked).toBe(c.received - c.acked);
      expect(stats.socketBuffered).toBeLessThan(256 * 1024);
      expect(stats.scrollbackBytes).toBeLessThanOrEqual(256 * 1024);
      expect(c.tail).not.toContain('flow-42');
      // Still paused a while later: the program is blocked, nothing piles up here.
      await new Promise((r) => setTimeout(r, 1000));
      expect(c.received).toBe(last);
      expect(server.terminals!.stats(id)!.paused).toBe(true);
      // The page catches up: the rest streams through to the end.
      c.autoAck = true;
      c.ack();
      await c.output(/[\r\n]flow-42\r\n/, 60_000);
      expect(c.received).toBeGreaterThan(27_000_000);
      expect(server.terminals!.stats(id)!.paused).toBe(false);
      c.send({ type: 'close' });
      await c.closed;
    }, 180_000);
  }
});

describe('reattach', () => {
  it('a new socket reattaches to the same shell and gets the scrollback replayed', async () => {
    const first = await openShell({ kind: 'host', host: 'ctl2' });
    const pid = await ask(first.c, 'echo $$', 'pid1');
    expect(pid).toMatch(/^\d+$/);
    first.c.type('echo before-$((1+1))-reload\r');
    await first.c.output(/[\r\n]before-2-reload\r\n/);
    first.c.close(); // the page reloads
    await first.c.closed;
    await waitFor(() => server.terminals!.stats(first.id)?.attached === false, 'the server to notice the page went away');

    const again = await TermClient.connect(auth);
    again.send({ type: 'attach', id: first.id, cols: 100, rows: 30 });
    const ready = await again.message('ready');
    expect(ready).toMatchObject({ id: first.id, label: 'ctl2', opened: false });
    expect(ready.replay).toBeGreaterThan(0);
    await again.output(/[\r\n]before-2-reload\r\n/);
    expect(await ask(again, 'echo $$', 'pid2')).toBe(pid);

    // Another login session cannot attach to it.
    const other = await TermClient.connect(await termLogin(server));
    other.send({ type: 'attach', id: first.id, cols: 80, rows: 24 });
    expect((await other.message('error')).error).toMatchObject({ code: 'terminal-ended', message: 'this terminal is not running any more' });

    // A second page of the same session takes it over; the first is told.
    const third = await TermClient.connect(auth);
    third.send({ type: 'attach', id: first.id, cols: 100, rows: 30 });
    await third.message('ready');
    await again.message('replaced');
    expect(await ask(third, 'echo $$', 'pid3')).toBe(pid);
    third.send({ type: 'close' });
    await third.closed;

    // After it ended, a reattach says so.
    const late = await TermClient.connect(auth);
    late.send({ type: 'attach', id: first.id, cols: 80, rows: 24 });
    expect((await late.message('error')).error.message).toBe('this terminal has ended: closed from the page');
  });

  it('keeps a bounded scrollback (256 KiB) while detached', async () => {
    const { c, id } = await openShell({ kind: 'local' });
    await c.output(/[$#] $/);
    c.close();
    await c.closed;
    await waitFor(() => server.terminals!.stats(id)?.attached === false, 'detach');
    // Nobody attached; output keeps flowing into the scrollback only.
    const again = await TermClient.connect(auth);
    again.send({ type: 'attach', id, cols: 100, rows: 30 });
    await again.message('ready');
    again.type('seq 1 300000; echo "detach-$((3*3))"\r');
    await again.until(() => again.received > 100_000, 'output');
    again.close();
    await again.closed;
    await waitFor(() => server.terminals!.stats(id)?.attached === false, 'detach');
    await new Promise((r) => setTimeout(r, 2000));
    const stats = server.terminals!.stats(id)!;
    expect(stats.scrollbackBytes).toBeLessThanOrEqual(256 * 1024);
    expect(stats.paused).toBe(false);
    const last = await TermClient.connect(auth);
    last.send({ type: 'attach', id, cols: 100, rows: 30 });
    const ready = await last.message('ready');
    expect(ready.replay).toBe(256 * 1024);
    await last.output(/\r\n300000\r\n(?:\x1b\[\?2004l\r)?detach-9\r\n/);
    last.send({ type: 'close' });
    await last.closed;
  });
});

describe('idle timeout and shutdown', () => {
  it('ends a terminal idle for --terminal-idle, and says so to a page that reattaches', async () => {
    const quick = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'term-idle' }), terminal: true, terminalIdleMs: 1500, log: () => {} });
    try {
      const login = await termLogin(quick);
      const c = await TermClient.connect(login);
      c.send({ type: 'open', target: { kind: 'host', host: 'ctl1' }, cols: 80, rows: 24 });
      const { id } = await c.message('ready');
      const opened = Date.now();
      // Typing keeps it alive.
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 700));
        c.type(`echo alive-${i}\r`);
      }
      expect(quick.terminals!.stats(id)).toBeDefined();
      const ended = await c.message('ended', 10_000);
      expect(ended.reason).toBe('idle for 1500 ms');
      expect(Date.now() - opened).toBeGreaterThan(3000);
      expect(quick.terminals!.stats(id)).toBeUndefined();
      const late = await TermClient.connect(login);
      late.send({ type: 'attach', id, cols: 80, rows: 24 });
      expect((await late.message('error')).error.message).toBe('this terminal has ended: idle for 1500 ms');
    } finally {
      await quick.close();
    }
  });

  it('server shutdown ends every terminal', async () => {
    const s = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'term-stop' }), terminal: true, log: () => {} });
    const login = await termLogin(s);
    const local = await openShell({ kind: 'local' }, undefined, login);
    const remote = await openShell({ kind: 'host', host: 'ctl1' }, undefined, login);
    const pid = Number(await ask(local.c, 'echo $$', 'spid'));
    expect(processExists(pid)).toBe(true);
    await s.close();
    expect((await local.c.message('ended')).reason).toBe('the server stopped');
    expect((await remote.c.message('ended')).reason).toBe('the server stopped');
    await waitFor(() => !processExists(pid), 'the local shell to exit');
  });
});
