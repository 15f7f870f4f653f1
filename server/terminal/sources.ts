/**
 * Where a browser terminal's bytes come from: an interactive shell with a
 * PTY on an inventory host (an ssh2 channel on the pooled, host-key-checked
 * connection) or a login shell on this machine (node-pty). Both pause and
 * resume for flow control, so a paused source stops the remote program by
 * back pressure instead of buffering its output here.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import type { ClientChannel } from 'ssh2';

export interface TermSize {
  cols: number;
  rows: number;
}

export interface SourceExit {
  code?: number;
  signal?: string;
}

export interface TerminalSource {
  write(data: Buffer): void;
  resize(size: TermSize): void;
  pause(): void;
  resume(): void;
  /** End the shell (hang up). */
  kill(): void;
  onData(fn: (chunk: Buffer) => void): void;
  /** Once, when the shell has gone. */
  onExit(fn: (exit: SourceExit) => void): void;
}

export class SshShellSource implements TerminalSource {
  constructor(private readonly ch: ClientChannel) {}

  write(data: Buffer) {
    if (this.ch.writable) this.ch.write(data);
  }
  resize({ cols, rows }: TermSize) {
    this.ch.setWindow(rows, cols, 0, 0);
  }
  pause() {
    this.ch.pause();
    this.ch.stderr.pause();
  }
  resume() {
    this.ch.resume();
    this.ch.stderr.resume();
  }
  kill() {
    // Closing the channel closes the PTY: sshd hangs up the session's shell.
    this.ch.close();
  }
  onData(fn: (chunk: Buffer) => void) {
    this.ch.on('data', fn);
    this.ch.stderr.on('data', fn);
  }
  onExit(fn: (exit: SourceExit) => void) {
    let exit: SourceExit = {};
    this.ch.on('exit', (code: number | null, signal?: string) => {
      exit = { code: code ?? undefined, signal: signal ?? undefined };
    });
    this.ch.once('close', () => fn(exit));
  }
}

/** The user's login shell, or bash. */
export function localShell(): string {
  const shell = process.env.SHELL;
  if (shell && shell.startsWith('/') && existsSync(shell)) return shell;
  return existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

type Pty = import('node-pty').IPty;

export class LocalPtySource implements TerminalSource {
  private exited = false;

  private constructor(private readonly pty: Pty) {
    pty.onExit(() => {
      this.exited = true;
    });
  }

  /** A login shell in the user's home directory. node-pty is loaded only when a local terminal opens. */
  static async spawn(size: TermSize): Promise<LocalPtySource> {
    const ptyModule = await import('node-pty');
    const spawn = (ptyModule.spawn ?? (ptyModule as unknown as { default: typeof ptyModule }).default.spawn) as typeof ptyModule.spawn;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    env.TERM = 'xterm-256color';
    env.COLORTERM = 'truecolor';
    const pty = spawn(localShell(), ['-l'], {
      name: 'xterm-256color',
      cols: size.cols,
      rows: size.rows,
      cwd: os.homedir(),
      env,
      // Raw bytes: flow control counts bytes, and a chunk may end inside a UTF-8 sequence.
      encoding: null,
    });
    return new LocalPtySource(pty);
  }

  get pid() {
    return this.pty.pid;
  }
  write(data: Buffer) {
    if (!this.exited) this.pty.write(data);
  }
  resize({ cols, rows }: TermSize) {
    if (!this.exited) this.pty.resize(cols, rows);
  }
  pause() {
    this.pty.pause();
  }
  resume() {
    this.pty.resume();
  }
  kill() {
    if (this.exited) return;
    this.pty.kill('SIGHUP');
    // A shell that ignores the hang-up is killed.
    setTimeout(() => {
      if (!this.exited) this.pty.kill('SIGKILL');
    }, 2000).unref();
  }
  onData(fn: (chunk: Buffer) => void) {
    // With `encoding: null` node-pty hands out Buffers (its typings say string).
    this.pty.onData((d: string | Buffer) => fn(typeof d === 'string' ? Buffer.from(d, 'utf8') : d));
  }
  onExit(fn: (exit: SourceExit) => void) {
    this.pty.onExit(({ exitCode, signal }) => {
      const name = signal ? (Object.entries(os.constants.signals).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}`) : undefined;
      fn(name ? { signal: name } : { code: exitCode });
    });
  }
}
