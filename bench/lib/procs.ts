/**
 * Run a command and measure it: wall time, time to its first stdout byte,
 * and the peak memory of its whole process tree, sampled from /proc (the
 * same way for Drillbook's own processes and for every peer).
 *
 * Memory: RSS summed over the tree counts pages shared between forked
 * processes once per process (an upper bound); PSS (from smaps_rollup)
 * splits shared pages between their users, so forked trees are not
 * over-counted. Both are reported.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { killTree, trackChild } from './cleanup.ts';

const PAGE = 4096;

/** pid and every descendant, via /proc/PID/task/TID/children. */
export function processTree(root: number): number[] {
  const out: number[] = [];
  const stack = [root];
  const seen = new Set<number>();
  while (stack.length) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) stack.push(Number(c));
      } catch {
        /* exited meanwhile */
      }
    }
  }
  return out;
}

export interface MemSample {
  rss: number;
  pss: number;
  procs: number;
}

export function treeMemory(root: number): MemSample {
  let rss = 0;
  let pss = 0;
  let procs = 0;
  for (const pid of processTree(root)) {
    try {
      rss += Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) pss += Number(m[1]) * 1024;
      procs++;
    } catch {
      /* exited meanwhile */
    }
  }
  return { rss, pss, procs };
}

/** Sample a process tree's memory until stopped; keeps the peaks. */
export class MemSampler {
  peakRss = 0;
  peakPss = 0;
  peakProcs = 0;
  samples = 0;
  private timer?: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    private readonly everyMs = 20,
  ) {}
  sample(): void {
    const m = treeMemory(this.pid);
    if (!m.procs) return;
    this.samples++;
    this.peakRss = Math.max(this.peakRss, m.rss);
    this.peakPss = Math.max(this.peakPss, m.pss);
    this.peakProcs = Math.max(this.peakProcs, m.procs);
  }
  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    return this;
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

export interface Measured {
  wallMs: number;
  /** From spawn to the first stdout byte; undefined when stdout was discarded or empty. */
  firstByteMs?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  peakRss?: number;
  peakPss?: number;
  peakProcs?: number;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** 'keep' (default) collects stdout (up to 1 MiB); 'count' only counts it; 'discard' sends it to /dev/null. */
  stdout?: 'keep' | 'count' | 'discard';
  memory?: boolean;
  timeoutMs?: number;
  onStdoutLine?: (line: string, atMs: number) => void;
  onStderrLine?: (line: string, atMs: number) => void;
}

const KEEP = 1024 * 1024;

/** Spawn in its own process group (so an interrupt can kill the whole tree) and measure. */
export function measure(cmd: string, args: string[], opts: MeasureOptions = {}): Promise<Measured> {
  const mode = opts.stdout ?? 'keep';
  const spawnOpts: SpawnOptions = { env: opts.env ?? process.env, cwd: opts.cwd, detached: true, stdio: ['ignore', mode === 'discard' ? 'ignore' : 'pipe', 'pipe'] };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, spawnOpts);
    trackChild(child);
    const sampler = opts.memory && child.pid ? new MemSampler(child.pid).start() : undefined;
    let firstByteMs: number | undefined;
    let stdout = '';
    let stderr = '';
    let stdoutBytes = 0;
    let outBuf = '';
    let errBuf = '';
    const lines = (buf: string, chunk: string, cb?: (l: string, at: number) => void) => {
      if (!cb) return '';
      buf += chunk;
      const parts = buf.split('\n');
      const rest = parts.pop() ?? '';
      const at = performance.now() - t0;
      for (const l of parts) cb(l, at);
      return rest;
    };
    child.stdout?.on('data', (d: Buffer) => {
      if (firstByteMs === undefined) firstByteMs = performance.now() - t0;
      stdoutBytes += d.length;
      if (mode === 'keep' && stdout.length < KEEP) stdout += d.toString();
      outBuf = lines(outBuf, d.toString(), opts.onStdoutLine);
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < KEEP) stderr += d.toString();
      errBuf = lines(errBuf, d.toString(), opts.onStderrLine);
    });
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          killTree(child, 'SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.once('error', (e) => {
      sampler?.stop();
      reject(e);
    });
    let exitedAt: number | undefined;
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      const wallMs = (exitedAt ?? performance.now()) - t0;
      if (timer) clearTimeout(timer);
      sampler?.stop();
      resolve({ wallMs, firstByteMs, code, signal, stdout, stderr, stdoutBytes, peakRss: sampler?.peakRss, peakPss: sampler?.peakPss, peakProcs: sampler?.peakProcs });
    };
    child.once('exit', (code, signal) => {
      exitedAt = performance.now();
      // A daemonised grandchild (an ssh ControlPersist master) may keep a pipe open: do not wait on it forever.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, 3000).unref();
    });
    child.once('close', (code, signal) => finish(code, signal));
  });
}

/** Fail loudly with the tail of stderr when a measured run did not succeed. */
export function mustSucceed(what: string, m: Measured): Measured {
  if (m.code !== 0) {
    const tail = [m.stdout, m.stderr]
      .map((t) => t.trim().split('\n').filter((l) => l && !/MaxListenersExceededWarning|--trace-warnings/.test(l)).slice(-8).join('\n    '))
      .filter(Boolean)
      .join('\n    --\n    ');
    throw new Error(`${what} exited with ${m.code ?? m.signal}:\n    ${tail}`);
  }
  return m;
}
