/**
 * SSH transport: one pooled ssh2 connection per host, reused across steps,
 * at most 8 concurrent channels on each (OpenSSH's MaxSessions is 10; one
 * spare is kept for stopping a cancelled run). Jump hosts are tunnelled
 * through their own pooled connection.
 *
 * A script is sent on stdin and run as
 *   exec /bin/bash --noprofile --norc -c 'exec /bin/bash --noprofile --norc /dev/fd/3 3<<<"$(cat)" </dev/null'
 * so nothing of it is ever quoted into a command line (no quoting hazards,
 * secrets never appear in `ps`), and it reads EOF from stdin. sshd makes the
 * session its own process group; the first line on stderr reports that
 * group's id so a cancel can stop the whole tree, not just the shell.
 */
import { readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { InventoryHost } from '../inventory.ts';
import { KnownHosts } from './known-hosts.ts';
import type { ConnectFailure, ExecIO, ExecOutcome, Transport } from './types.ts';

export const MAX_CHANNELS = 8;
const REMOTE_COMMAND = `exec /bin/bash --noprofile --norc -c 'exec /bin/bash --noprofile --norc /dev/fd/3 3<<<"$(cat)" </dev/null'`;
const PID_PREFIX = "printf '\\036drillbook:pid=%d\\036\\n' \"$$\" >&2\n";
const PID_MARK = /\x1edrillbook:pid=(\d+)\x1e\n/;

export class ConnectError extends Error {
  constructor(
    readonly failure: ConnectFailure,
    message: string,
  ) {
    super(message);
  }
}

class Semaphore {
  private queue: (() => void)[] = [];
  private used = 0;
  constructor(private readonly size: number) {}
  async acquire(): Promise<() => void> {
    if (this.used >= this.size) await new Promise<void>((r) => this.queue.push(r));
    return this.take();
  }
  get inUse() {
    return this.used;
  }
  /** A slot now, or undefined when all are taken (for interactive shells, which should not queue). */
  tryAcquire(): (() => void) | undefined {
    return this.used >= this.size ? undefined : this.take();
  }
  /** Take a slot; the returned release hands it to the next waiter, once. */
  private take(): () => void {
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
      this.queue.shift()?.();
    };
  }
}

interface Pooled {
  client: Client;
  channels: Semaphore;
  closed: boolean;
}

export interface SshPoolOptions {
  /** All hosts of the inventory, so jump hosts can be found by name. */
  hosts: Record<string, InventoryHost>;
  knownHosts: KnownHosts;
  connectTimeoutMs: number;
  /** Grace before SIGKILL after SIGTERM on cancel. */
  killGraceMs?: number;
}

export class SshPool implements Transport {
  private conns = new Map<string, Promise<Pooled>>();
  /** Peak channels observed per host (for tests and benchmarks). */
  readonly peakChannels = new Map<string, number>();

  constructor(private readonly opts: SshPoolOptions) {}

  private connect(host: InventoryHost): Promise<Pooled> {
    const existing = this.conns.get(host.name);
    if (existing) return existing;
    const p = this.open(host).then((pooled) => {
      const drop = () => {
        pooled.closed = true;
        if (this.conns.get(host.name) === p) this.conns.delete(host.name);
      };
      pooled.client.on('close', drop);
      pooled.client.on('end', drop);
      return pooled;
    });
    p.catch(() => {
      if (this.conns.get(host.name) === p) this.conns.delete(host.name);
    });
    this.conns.set(host.name, p);
    return p;
  }

  private async open(host: InventoryHost): Promise<Pooled> {
    let sock: ConnectConfig['sock'];
    if (host.jump) {
      const jumpHost = this.opts.hosts[host.jump];
      if (!jumpHost) throw new ConnectError('unreachable', `jump host "${host.jump}" is not in the inventory`);
      let jump: Pooled;
      try {
        jump = await this.connect(jumpHost);
      } catch (e) {
        const err = e as ConnectError;
        throw new ConnectError(err.failure ?? 'unreachable', `via jump host ${jumpHost.name}: ${err.message}`);
      }
      sock = await new Promise((resolve, reject) =>
        jump.client.forwardOut('127.0.0.1', 0, host.address, host.port, (err, stream) =>
          err ? reject(new ConnectError('unreachable', `jump host ${jumpHost.name} cannot reach ${host.address}:${host.port}: ${err.message}`)) : resolve(stream),
        ),
      );
    }
    let privateKey: Buffer | undefined;
    if (host.keyFile) {
      try {
        privateKey = readFileSync(host.keyFile);
      } catch (e) {
        throw new ConnectError('auth-failed', `cannot read private key ${host.keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    const client = new Client();
    let keyProblem: ConnectError | undefined;
    return new Promise<Pooled>((resolve, reject) => {
      let settled = false;
      client.once('ready', () => {
        settled = true;
        resolve({ client, channels: new Semaphore(MAX_CHANNELS), closed: false });
      });
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (settled) return;
        settled = true;
        client.end();
        if (keyProblem) return reject(keyProblem);
        reject(classify(err, host));
      });
      client.once('close', () => {
        if (settled) return;
        settled = true;
        reject(keyProblem ?? new ConnectError('unreachable', `${host.address}:${host.port} closed the connection before login`));
      });
      try {
        client.connect({
          host: host.address,
          port: host.port,
          username: host.user,
          privateKey,
          sock,
          agentForward: false,
          readyTimeout: this.opts.connectTimeoutMs,
          keepaliveInterval: 5000,
          keepaliveCountMax: 3,
          hostVerifier: (key: Buffer) => {
            const v = this.opts.knownHosts.check(host.address, host.port, key, host.hostKey);
            if (v.ok) return true;
            keyProblem =
              v.reason === 'mismatch'
                ? new ConnectError('host-key-mismatch', `host key of ${host.address}:${host.port} changed: it presented ${short(v.presented)}, expected ${short(v.expected ?? '')}`)
                : new ConnectError('host-key-unknown', `host key of ${host.address}:${host.port} (${short(v.presented)}) is not known, and this inventory is strict`);
            return false;
          },
        });
      } catch (e) {
        settled = true;
        reject(new ConnectError('auth-failed', (e as Error).message));
      }
    });
  }

  async run(host: InventoryHost, script: string, io: ExecIO): Promise<ExecOutcome> {
    if (io.signal.aborted) return { kind: 'cancelled', remoteStopped: true };
    let pooled: Pooled;
    try {
      pooled = await this.connect(host);
    } catch (e) {
      if (e instanceof ConnectError) return { kind: 'connect-failed', failure: e.failure, message: e.message };
      return { kind: 'connect-failed', failure: 'unreachable', message: (e as Error).message };
    }
    const release = await pooled.channels.acquire();
    this.peakChannels.set(host.name, Math.max(this.peakChannels.get(host.name) ?? 0, pooled.channels.inUse));
    try {
      return await this.exec(pooled, host, script, io);
    } finally {
      release();
    }
  }

  private exec(pooled: Pooled, host: InventoryHost, script: string, io: ExecIO): Promise<ExecOutcome> {
    return new Promise<ExecOutcome>((resolve) => {
      if (pooled.closed) return resolve({ kind: 'disconnected', message: `connection to ${host.name} was closed` });
      let pgid: number | undefined;
      let cancelled = false;
      let remoteStopped = false;
      let exit: { code?: number; signal?: string } | undefined;
      let channel: ClientChannel | undefined;
      let stderrHead = '';
      const headDecoder = new StringDecoder('latin1');

      const onAbort = () => {
        cancelled = true;
        if (pgid === undefined) {
          // The script has not reported its process group yet; the stderr
          // handler calls back here when it does. Give up after a while.
          setTimeout(() => channel?.close(), 5000).unref();
          return;
        }
        if (pgid < 0) {
          channel?.close();
          return;
        }
        this.killGroup(pooled, pgid)
          .then((ok) => {
            remoteStopped = ok;
          })
          .finally(() => setTimeout(() => channel?.close(), 2000).unref());
      };

      try {
        pooled.client.exec(REMOTE_COMMAND, (err, ch) => {
          if (err) {
            return resolve({ kind: 'disconnected', message: `${host.name} refused a new session: ${err.message}` });
          }
          channel = ch;
          ch.on('data', (d: Buffer) => io.onStdout(d));
          ch.stderr.on('data', (d: Buffer) => {
            if (pgid !== undefined) return io.onStderr(d);
            stderrHead += headDecoder.write(d);
            const m = PID_MARK.exec(stderrHead);
            if (m) {
              pgid = Number(m[1]);
              const rest = stderrHead.slice(0, m.index) + stderrHead.slice(m.index + m[0].length);
              stderrHead = '';
              if (rest) io.onStderr(Buffer.from(rest, 'latin1'));
              if (cancelled) onAbort();
            } else if (stderrHead.length > 4096) {
              pgid = -1;
              io.onStderr(Buffer.from(stderrHead, 'latin1'));
            }
          });
          ch.on('exit', (code: number | null, signal?: string) => {
            exit = { code: code ?? undefined, signal: signal ?? undefined };
          });
          ch.on('close', () => {
            io.signal.removeEventListener('abort', onAbort);
            if (stderrHead) io.onStderr(Buffer.from(stderrHead, 'latin1'));
            // A script that exited by itself is stopped, whatever killed it.
            if (cancelled) return resolve({ kind: 'cancelled', remoteStopped: remoteStopped || exit !== undefined });
            if (exit?.code !== undefined) return resolve({ kind: 'exit', code: exit.code });
            if (exit?.signal) return resolve({ kind: 'signal', signal: exit.signal });
            resolve({ kind: 'disconnected', message: `connection to ${host.name} dropped before the script finished` });
          });
          ch.write(PID_PREFIX + script + '\n');
          ch.end();
          io.signal.addEventListener('abort', onAbort, { once: true });
          if (io.signal.aborted) onAbort();
        });
      } catch (e) {
        resolve({ kind: 'disconnected', message: `${host.name}: ${(e as Error).message}` });
      }
    });
  }

  /** TERM the remote process group, KILL it after a grace period; true once it is gone. */
  private killGroup(pooled: Pooled, pgid: number): Promise<boolean> {
    if (!Number.isInteger(pgid) || pgid <= 1) return Promise.resolve(false);
    const grace = Math.max(1, Math.round((this.opts.killGraceMs ?? 3000) / 200));
    const cmd =
      `kill -TERM -- -${pgid} 2>/dev/null; i=0; ` +
      `while kill -0 -- -${pgid} 2>/dev/null; do i=$((i+1)); [ $i -ge ${grace} ] && { kill -KILL -- -${pgid} 2>/dev/null; sleep 0.2; break; }; sleep 0.2; done; ` +
      `kill -0 -- -${pgid} 2>/dev/null && exit 1; exit 0`;
    return new Promise((resolve) => {
      if (pooled.closed) return resolve(false);
      pooled.client.exec(cmd, (err, ch) => {
        if (err) return resolve(false);
        let code: number | null = null;
        ch.on('exit', (c: number | null) => (code = c));
        ch.on('close', () => resolve(code === 0));
        ch.resume();
        ch.stderr.resume();
      });
    });
  }

  /**
   * An interactive login shell with a PTY (the browser terminal) on the
   * pooled, host-key-checked connection. It holds one of the host's
   * channels until it closes; when all are in use it fails at once rather
   * than queue behind running steps.
   */
  async shell(host: InventoryHost, pty: { cols: number; rows: number; term?: string }): Promise<ClientChannel> {
    const pooled = await this.connect(host);
    const release = pooled.channels.tryAcquire();
    if (!release) throw new ConnectError('unreachable', `${host.name} already has ${MAX_CHANNELS} SSH channels open (running steps and terminals); close a terminal or wait for the steps to finish`);
    this.peakChannels.set(host.name, Math.max(this.peakChannels.get(host.name) ?? 0, pooled.channels.inUse));
    return new Promise<ClientChannel>((resolve, reject) => {
      const fail = (message: string) => {
        release();
        reject(new ConnectError('unreachable', message));
      };
      if (pooled.closed) return fail(`connection to ${host.name} was closed`);
      try {
        pooled.client.shell({ term: pty.term ?? 'xterm-256color', cols: pty.cols, rows: pty.rows, width: 0, height: 0 }, (err, ch) => {
          if (err) return fail(`${host.name} refused a shell: ${err.message}`);
          ch.once('close', release);
          resolve(ch);
        });
      } catch (e) {
        fail(`${host.name}: ${(e as Error).message}`);
      }
    });
  }

  async close(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(
      all.map((p) =>
        p.then(
          (c) => new Promise<void>((r) => (c.closed ? r() : (c.client.once('close', () => r()), c.client.end()))),
          () => undefined,
        ),
      ),
    );
  }
}

function short(key: string): string {
  const [type, data] = key.split(' ');
  return data ? `${type} …${data.slice(-12)}` : key;
}

function classify(err: Error & { level?: string; code?: string }, host: InventoryHost): ConnectError {
  const at = `${host.user}@${host.address}:${host.port}`;
  if (err.level === 'client-authentication') return new ConnectError('auth-failed', `${at} refused the login: ${err.message}`);
  if (err.code && ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE'].includes(err.code)) {
    const why = { ECONNREFUSED: 'connection refused', EHOSTUNREACH: 'no route to host', ENETUNREACH: 'network unreachable', ETIMEDOUT: 'timed out', ENOTFOUND: 'name not found', EAI_AGAIN: 'name lookup failed', ECONNRESET: 'connection reset', EPIPE: 'connection reset' }[err.code];
    return new ConnectError('unreachable', `cannot reach ${host.address}:${host.port}: ${why}`);
  }
  if (/timed out/i.test(err.message)) return new ConnectError('unreachable', `no SSH answer from ${host.address}:${host.port} in time`);
  if (/privateKey|private key|parse/i.test(err.message)) return new ConnectError('auth-failed', `cannot use the private key for ${at}: ${err.message}`);
  return new ConnectError('unreachable', `${at}: ${err.message}`);
}
