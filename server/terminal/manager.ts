/**
 * Browser terminals kept by the server: each one a shell on an inventory
 * host or on this machine, owned by one login session, with an id the page
 * keeps so a reload reattaches to the same shell.
 *
 * - Scrollback: the last `scrollbackBytes` of output, replayed on attach.
 * - Flow control: the page acknowledges the bytes it has written; above
 *   `highWater` unacknowledged bytes the source is paused (the program
 *   blocks on its PTY), below `lowWater` it resumes. With no page attached
 *   output only feeds the bounded scrollback.
 * - Idle: a shell with no input from the page, and no output while a page
 *   watches, for `idleMs` is ended. Closing its tab ends it; so does
 *   `closeAll()` at server shutdown.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { DrillbookError, Refused } from '../../src/runbook/errors.ts';
import type { RunnerSession } from '../runner/session.ts';
import { ConnectError, SshPool } from '../transports/ssh-pool.ts';
import { LocalPtySource, SshShellSource, type SourceExit, type TermSize, type TerminalSource } from './sources.ts';

export type TerminalTarget = { kind: 'host'; host: string } | { kind: 'local' };

export interface TerminalManagerOptions {
  /** End a shell after this long without activity. */
  idleMs: number;
  scrollbackBytes?: number;
  highWater?: number;
  lowWater?: number;
  /** Open terminals per login session. */
  maxPerOwner?: number;
  /** Open terminals per host (each holds one of its 8 SSH channels; the rest stay for steps). */
  maxPerHost?: number;
  log?: (msg: string) => void;
}

export const DEFAULT_IDLE_MS = 15 * 60_000;

/** The attached page, as the terminal sees it. */
export interface TerminalSink {
  output(chunk: Buffer): void;
  ended(info: TerminalEnd): void;
  /** Another page took this terminal over. */
  replaced(): void;
  bufferedAmount(): number;
}

export interface TerminalEnd extends SourceExit {
  reason: string;
}

export interface TerminalStats {
  id: string;
  label: string;
  attached: boolean;
  paused: boolean;
  unacked: number;
  scrollbackBytes: number;
  /** Bytes the WebSocket has queued but not yet handed to the kernel. */
  socketBuffered: number;
  ended?: TerminalEnd;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

export class TerminalSession {
  readonly id = randomUUID();
  private chunks: Buffer[] = [];
  private kept = 0;
  private sink?: TerminalSink;
  private unacked = 0;
  private paused = false;
  private lastActive = Date.now();
  private idleTimer?: ReturnType<typeof setTimeout>;
  ended?: TerminalEnd;

  constructor(
    readonly owner: object,
    readonly target: TerminalTarget,
    /** Short name for the tab: the host, or "this machine". */
    readonly label: string,
    /** Who and where: user@address. */
    readonly detail: string,
    private readonly source: TerminalSource,
    private readonly opts: Required<Pick<TerminalManagerOptions, 'idleMs' | 'scrollbackBytes' | 'highWater' | 'lowWater'>>,
    private readonly onEnd: (t: TerminalSession) => void,
  ) {
    source.onData((chunk) => this.onOutput(chunk));
    source.onExit((exit) => this.finish({ ...exit, reason: exit.signal ? `the shell was ended by ${exit.signal}` : `the shell exited${exit.code !== undefined ? ` with code ${exit.code}` : ''}` }));
    this.armIdle();
  }

  private onOutput(chunk: Buffer) {
    this.keep(chunk);
    if (!this.sink) return;
    this.lastActive = Date.now();
    this.unacked += chunk.length;
    this.sink.output(chunk);
    if (!this.paused && this.unacked > this.opts.highWater) {
      this.paused = true;
      this.source.pause();
    }
  }

  /** Bounded scrollback: drop the oldest bytes beyond the limit. */
  private keep(chunk: Buffer) {
    this.chunks.push(chunk);
    this.kept += chunk.length;
    while (this.kept > this.opts.scrollbackBytes) {
      const over = this.kept - this.opts.scrollbackBytes;
      const head = this.chunks[0];
      if (head.length <= over) {
        this.chunks.shift();
        this.kept -= head.length;
      } else {
        this.chunks[0] = Buffer.from(head.subarray(over));
        this.kept -= over;
      }
    }
    // Keystroke echoes arrive a byte at a time: keep the list short.
    if (this.chunks.length > 512) this.chunks = [Buffer.concat(this.chunks)];
  }

  /** A page attaches (a new one replaces the old): returns the scrollback to replay first. */
  attach(sink: TerminalSink, size?: TermSize): Buffer {
    if (this.sink && this.sink !== sink) this.sink.replaced();
    this.sink = sink;
    const replay = Buffer.concat(this.chunks);
    this.unacked = replay.length;
    this.lastActive = Date.now();
    if (size) this.resize(size);
    this.flow();
    return replay;
  }

  detach(sink: TerminalSink) {
    if (this.sink !== sink) return;
    this.sink = undefined;
    this.unacked = 0;
    this.lastActive = Date.now();
    // Nobody to acknowledge: output goes to the bounded scrollback only.
    this.flow();
  }

  input(data: Buffer) {
    if (this.ended) return;
    this.lastActive = Date.now();
    this.source.write(data);
  }

  resize(size: TermSize) {
    if (this.ended) return;
    this.lastActive = Date.now();
    this.source.resize(size);
  }

  ack(bytes: number) {
    this.unacked = Math.max(0, this.unacked - bytes);
    this.flow();
  }

  private flow() {
    if (this.ended) return;
    if (this.paused && this.unacked < this.opts.lowWater) {
      this.paused = false;
      this.source.resume();
    } else if (!this.paused && this.unacked > this.opts.highWater) {
      this.paused = true;
      this.source.pause();
    }
  }

  private armIdle() {
    clearTimeout(this.idleTimer);
    if (this.ended) return;
    const left = this.lastActive + this.opts.idleMs - Date.now();
    if (left <= 0) return this.end(`idle for ${formatDuration(this.opts.idleMs)}`);
    this.idleTimer = setTimeout(() => this.armIdle(), left);
    this.idleTimer.unref();
  }

  /** End the shell now. */
  end(reason: string) {
    if (this.ended) return;
    this.source.resume();
    this.source.kill();
    this.finish({ reason });
  }

  private finish(info: TerminalEnd) {
    if (this.ended) return;
    this.ended = info;
    clearTimeout(this.idleTimer);
    const sink = this.sink;
    this.sink = undefined;
    sink?.ended(info);
    this.onEnd(this);
  }

  stats(): TerminalStats {
    return { id: this.id, label: this.label, attached: !!this.sink, paused: this.paused, unacked: this.unacked, scrollbackBytes: this.kept, socketBuffered: this.sink?.bufferedAmount() ?? 0, ended: this.ended };
  }
}

export class TerminalManager {
  private terms = new Map<string, TerminalSession>();
  /** Recently ended terminals, so a page that reattaches learns why. */
  private gone = new Map<string, { owner: object; info: TerminalEnd }>();
  private readonly log: (msg: string) => void;
  readonly idleMs: number;
  private closing = false;
  /** Opens in progress, counted against the limits. */
  private starting: { owner: object; host?: string }[] = [];

  constructor(
    private readonly runner: RunnerSession,
    private readonly opts: TerminalManagerOptions,
  ) {
    this.log = opts.log ?? ((m) => process.stderr.write(`${m}\n`));
    this.idleMs = opts.idleMs;
  }

  private get sessionOpts() {
    return {
      idleMs: this.opts.idleMs,
      scrollbackBytes: this.opts.scrollbackBytes ?? 256 * 1024,
      highWater: this.opts.highWater ?? 1024 * 1024,
      lowWater: this.opts.lowWater ?? 256 * 1024,
    };
  }

  async open(owner: object, target: TerminalTarget, size: TermSize): Promise<TerminalSession> {
    if (this.closing) throw new Refused('the server is shutting down');
    const mine = [...this.terms.values()].filter((t) => t.owner === owner).length + this.starting.filter((s) => s.owner === owner).length;
    const maxOwner = this.opts.maxPerOwner ?? 8;
    if (mine >= maxOwner) throw new Refused(`${mine} terminals are open already`, undefined, 'close one of them first');
    const slot = { owner, host: target.kind === 'host' ? target.host : undefined };
    this.starting.push(slot);
    try {
      return await this.start(owner, target, size);
    } finally {
      this.starting.splice(this.starting.indexOf(slot), 1);
    }
  }

  private async start(owner: object, target: TerminalTarget, size: TermSize): Promise<TerminalSession> {
    let source: TerminalSource;
    let label: string;
    let detail: string;
    if (target.kind === 'local') {
      source = await LocalPtySource.spawn(size);
      label = 'this machine';
      detail = `${os.userInfo().username}@${os.hostname()}`;
    } else {
      const inv = this.runner.inventory();
      const host = Object.hasOwn(inv.hosts, target.host) ? inv.hosts[target.host] : undefined;
      if (!host) throw new Refused(`no host "${target.host}" in inventory ${inv.name}`, target.host, `hosts: ${Object.keys(inv.hosts).join(', ')}`);
      const onHost = [...this.terms.values()].filter((t) => t.target.kind === 'host' && t.target.host === host.name).length + this.starting.filter((s) => s.host === host.name).length - 1;
      const maxHost = this.opts.maxPerHost ?? 4;
      if (onHost >= maxHost) throw new Refused(`${onHost} terminals are open on ${host.name} already`, host.name, 'close one of them; the remaining SSH channels are kept for steps');
      const pool = this.runner.transportFor(inv);
      if (!(pool instanceof SshPool)) throw new Refused(`${host.name} is not reached over SSH`, host.name);
      try {
        source = new SshShellSource(await pool.shell(host, { ...size, term: 'xterm-256color' }));
      } catch (e) {
        if (e instanceof ConnectError) throw new DrillbookError(e.failure, e.message, { where: host.name, hint: 'check the host with `npx drillbook lab status` or run a verify step on it' });
        throw e;
      }
      label = host.name;
      detail = `${host.user}@${host.address}${host.port === 22 ? '' : `:${host.port}`}`;
    }
    if (this.closing) {
      source.kill();
      throw new Refused('the server is shutting down');
    }
    const t = new TerminalSession(owner, target, label, detail, source, this.sessionOpts, (ended) => {
      this.terms.delete(ended.id);
      this.gone.set(ended.id, { owner: ended.owner, info: ended.ended! });
      if (this.gone.size > 64) this.gone.delete(this.gone.keys().next().value!);
      this.log(`drillbook: terminal ${ended.id.slice(0, 8)} on ${ended.label} ended: ${ended.ended!.reason}`);
    });
    this.terms.set(t.id, t);
    this.log(`drillbook: terminal ${t.id.slice(0, 8)} opened on ${label} (${detail})`);
    return t;
  }

  /** The caller's terminal with this id, or why it is not there. */
  find(owner: object, id: string): TerminalSession | { ended?: TerminalEnd } {
    const t = this.terms.get(id);
    if (t && t.owner === owner) return t;
    const g = this.gone.get(id);
    return { ended: g && g.owner === owner ? g.info : undefined };
  }

  stats(id: string): TerminalStats | undefined {
    return this.terms.get(id)?.stats();
  }

  list(): TerminalStats[] {
    return [...this.terms.values()].map((t) => t.stats());
  }

  /** End every terminal (server shutdown). */
  async closeAll(): Promise<void> {
    this.closing = true;
    for (const t of [...this.terms.values()]) t.end('the server stopped');
  }
}
