/**
 * Case 3: a step that prints 100 MiB, streamed through the real server to a
 * WebSocket client (logged in as the page is). Throughput, time to first
 * byte and the server's peak memory (the server runs in a process of its
 * own, sampled from /proc), against `ssh host <same generator> > /dev/null`
 * as the limit, and against Drillbook's runner alone (no WebSocket) to show
 * where the time goes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { login } from '../../test/fixtures/session.ts';
import { writeChapters } from '../../test/fixtures/chapters.ts';
import { killTree, onCleanup, trackChild } from '../lib/cleanup.ts';
import type { BenchContext } from '../lib/context.ts';
import { BENCH_CHAPTER, benchChapterText, mustPass, planFor, timedRun } from '../lib/drillbook.ts';
import { benchFleet, controlPath } from '../lib/fleet.ts';
import { alternate, CaseRecorder, type CaseResult, type Contender } from '../lib/model.ts';
import { MemSampler, measure, mustSucceed, treeMemory } from '../lib/procs.ts';
import { BENCH_DIR } from '../lib/results.ts';
import { median } from '../lib/stats.ts';

export const STREAM_BYTES = 100 * 1024 * 1024;
/** Printable text (the page shows text), 64-byte lines; `|| true` keeps yes's SIGPIPE out of pipefail. */
export const GENERATOR = `{ yes 'drillbook stream benchmark: 64-byte lines of printable text, 0123456' || true; } | head -c ${STREAM_BYTES}`;
const MiB = 1024 * 1024;

interface ServerChild {
  pid: number;
  port: number;
  tokenFile: string;
  stop(): Promise<void>;
}

async function startServerChild(inventory: string, env: NodeJS.ProcessEnv): Promise<ServerChild> {
  const root = path.join(BENCH_DIR, '..');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'children', 'server.ts'), inventory], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const info = await new Promise<{ port: number; tokenFile: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.once('exit', (code) => reject(new Error(`the server child exited (${code}) before listening:\n${stderr}`)));
    setTimeout(() => reject(new Error(`the server child did not listen within 60 s:\n${stderr}`)), 60_000).unref();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const undo = onCleanup('Drillbook server child', async () => {
    killTree(child, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 6000))]);
    killTree(child, 'SIGKILL');
  });
  return { pid: child.pid!, port: info.port, tokenFile: info.tokenFile, stop: undo };
}

async function connect(server: ServerChild): Promise<WebSocket> {
  const { url } = JSON.parse(readFileSync(server.tokenFile, 'utf8')) as { url: string };
  const { cookie, wsToken, origin } = await login(url);
  const ws = new WebSocket(`${origin.replace('http', 'ws')}/api/ws`, ['drillbook.v1', `drillbook.token.${wsToken}`], { headers: { Origin: origin, Cookie: cookie } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

/**
 * Run a step over the WebSocket; count output bytes without keeping them.
 * `dropped`: bytes the server did not send because the client fell more than
 * its high-water mark behind (it says how many, in place of the output).
 */
function wsRun(ws: WebSocket, step: string, id: string): Promise<{ firstByteMs?: number; wallMs: number; bytes: number; dropped: number; verdict: string; message: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstByteMs: number | undefined;
    let bytes = 0;
    let dropped = 0;
    const onMessage = (data: WebSocket.RawData) => {
      const m = JSON.parse(data.toString());
      if (m.id !== id) return;
      if (m.type === 'error') {
        ws.off('message', onMessage);
        return reject(new Error(`server refused the run: ${m.error?.message}`));
      }
      if (m.type !== 'run-event') return;
      const e = m.event;
      if (e.type === 'output' && e.dropped) dropped += e.dropped;
      else if (e.type === 'output') {
        firstByteMs ??= performance.now() - t0;
        bytes += Buffer.byteLength(e.text);
      } else if (e.type === 'done') {
        ws.off('message', onMessage);
        resolve({ firstByteMs, wallMs: performance.now() - t0, bytes, dropped, verdict: e.result.verdict, message: e.result.message });
      }
    };
    ws.on('message', onMessage);
    ws.once('close', () => reject(new Error('the WebSocket closed during the run')));
    ws.send(JSON.stringify({ type: 'run', id, step, params: {} }));
  });
}

export async function streamCase(ctx: BenchContext): Promise<CaseResult> {
  const contenders: Contender[] = [
    { id: 'drillbook', label: 'Drillbook: server → WebSocket client', short: 'server → WebSocket', drillbook: true },
    { id: 'runner', label: 'Drillbook runner alone (no WebSocket)', short: 'runner alone', drillbook: true },
    { id: 'runner-4k', label: 'runner alone, keepOutput 4 KiB (diagnostic)', short: 'runner, 4 KiB kept', drillbook: true },
    { id: 'ssh', label: 'ssh host … > /dev/null (the limit)', short: 'ssh (limit)' },
  ];
  const rec = new CaseRecorder('stream', 'Case 3: a step printing 100 MiB, streamed', contenders, [
    { id: 'throughput', label: 'throughput', unit: 'MiB/s', better: 'higher' },
    { id: 'wall', label: 'wall time', unit: 'ms', better: 'lower' },
    { id: 'firstByte', label: 'first output byte', unit: 'ms', better: 'lower' },
    { id: 'rss', label: 'peak RSS of the receiver (Drillbook: the server)', unit: 'bytes', better: 'lower' },
    { id: 'pss', label: 'peak PSS of the receiver', unit: 'bytes', better: 'lower' },
    { id: 'shown', label: 'output that reached the client (the rest dropped and counted)', unit: '%', better: 'higher' },
  ]);
  if (ctx.missing.get('ssh')) rec.skip('ssh', ctx.missing.get('ssh')!);
  const active = contenders.filter((c) => !rec.notMeasured[c.id]);

  const fleet = await benchFleet(1);
  const host = fleet.names[0];
  const chapters = writeChapters({
    [`${BENCH_CHAPTER}.mdx`]: benchChapterText([
      { attrs: `id="stream" title="Stream" on="${host}" timeout="10m"`, script: GENERATOR },
      { attrs: `id="warm" title="Warm" on="${host}"`, script: 'echo warm' },
    ]),
  });
  const state = mkdtempSync(path.join(os.tmpdir(), 'drillbook-bench-state-'));
  const undo = onCleanup('stream chapters and state', () => {
    rmSync(chapters, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });
  const env = { ...process.env, DRILLBOOK_CHAPTERS_DIR: chapters, DRILLBOOK_STATE_DIR: state };
  const baselines: number[] = [];
  try {
    const plan = planFor(`on="${host}" timeout="10m"`, GENERATOR, fleet.inventory);
    const pool = fleet.newPool();
    const cm = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${controlPath(fleet, host)}`, '-o', 'ControlPersist=300'];
    let n = 0;

    const runOnce = async (c: Contender, round: number | undefined) => {
      const put = (metric: string, v: number | undefined) => round !== undefined && rec.record(round, c.id, metric, v);
      switch (c.id) {
        case 'drillbook': {
          // A fresh server each time, so each round's peak is its own; warmed by a tiny step (the pool connects).
          const server = await startServerChild(fleet.inventoryFile, env);
          try {
            const ws = await connect(server);
            const warm = await wsRun(ws, `${BENCH_CHAPTER}/warm`, `w${++n}`);
            if (warm.verdict !== 'passed') throw new Error(`warm-up step: ${warm.verdict}: ${warm.message}`);
            const before = treeMemory(server.pid);
            baselines.push(before.rss);
            const sampler = new MemSampler(server.pid).start();
            const r = await wsRun(ws, `${BENCH_CHAPTER}/stream`, `r${++n}`);
            sampler.stop();
            ws.close();
            if (r.verdict !== 'passed') throw new Error(`stream step over the WebSocket: ${r.verdict}: ${r.message}`);
            if (r.bytes + r.dropped !== STREAM_BYTES) throw new Error(`the WebSocket client got ${r.bytes} bytes and ${r.dropped} counted as dropped, not ${STREAM_BYTES}`);
            put('shown', (100 * r.bytes) / STREAM_BYTES);
            put('throughput', STREAM_BYTES / MiB / (r.wallMs / 1000));
            put('wall', r.wallMs);
            put('firstByte', r.firstByteMs);
            put('rss', sampler.peakRss);
            put('pss', sampler.peakPss);
          } finally {
            await server.stop();
          }
          return;
        }
        case 'runner':
        case 'runner-4k': {
          const r = mustPass('Drillbook runner', await timedRun(plan, pool, c.id === 'runner-4k' ? 4096 : undefined));
          if (r.outputBytes !== STREAM_BYTES) throw new Error(`the runner streamed ${r.outputBytes} bytes, not ${STREAM_BYTES}`);
          put('throughput', STREAM_BYTES / MiB / (r.wallMs / 1000));
          put('wall', r.wallMs);
          put('firstByte', r.firstByteMs);
          return;
        }
        case 'ssh': {
          // Warm (ControlPersist master, connected during the warm-up) like Drillbook's pool: the transfer, not the handshake.
          const m = mustSucceed('ssh', await measure('ssh', [...fleet.sshArgs(host, cm), GENERATOR], { stdout: round === undefined ? 'count' : 'discard', memory: true }));
          if (round === undefined && m.stdoutBytes !== STREAM_BYTES) throw new Error(`ssh delivered ${m.stdoutBytes} bytes, not ${STREAM_BYTES}`);
          put('throughput', STREAM_BYTES / MiB / (m.wallMs / 1000));
          put('wall', m.wallMs);
          put('rss', m.peakRss);
          put('pss', m.peakPss);
          return;
        }
      }
    };

    // Warm-up (checks every contender delivers exactly 100 MiB; connects the pool and the ssh master).
    for (const c of active.filter((c) => c.id !== 'drillbook')) await runOnce(c, undefined);
    await alternate(ctx.rounds, active, (round, c) => runOnce(c, round), ctx.progress);
    rec.details = { serverRssBeforeRun: Math.round(median(baselines)) };
    rec.notes.push(`generator on every contender: ${GENERATOR}`);
    rec.notes.push(`Drillbook: a fresh server process per round (bench/children/server.ts), logged in like the page, warmed by a one-line step; the client parses every run-event and checks that what it got plus what the server counted as dropped is exactly 100 MiB. Server RSS before the run: ${(median(baselines) / MiB).toFixed(1)} MiB (median)`);
    rec.notes.push('"runner alone" is executeStep on a warm pool in the benchmark process, with the server\'s default output retention (keepOutput 256 KiB per host); the diagnostic row keeps 4 KiB instead: the difference is the cost of retaining output, which grows with keepOutput for every chunk received');
    rec.notes.push('ssh reuses a warm ControlPersist master (the pooled Drillbook connection is warm too) and writes to /dev/null; its memory is the ssh client\'s');
  } finally {
    await undo();
    await fleet.stop();
  }
  return rec.result();
}
