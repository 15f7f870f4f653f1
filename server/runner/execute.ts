/**
 * Execute a planned step: run it on every target in parallel, stream each
 * host's output as it arrives, check the expectation, retry until it holds
 * or retries/timeout run out, and return one verdict per host.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { createMasker } from '../../src/runbook/vars.ts';
import type { ExecOutcome, Transport } from '../transports/types.ts';
import { transportFor } from '../transports/local.ts';
import type { StepPlan, TargetPlan } from './plan.ts';
import { overallVerdict, type HostResult, type RunResult, type Verdict } from './results.ts';

export type RunEvent =
  | { type: 'start'; runId: string; step: string; inventory: string; targets: { host: string; address: string; display: string }[] }
  | { type: 'attempt'; runId: string; attempt: number; of: number; hosts: string[] }
  /** `dropped`: set on the notice the server sends a page in place of output it could not take in time (bytes skipped). */
  | { type: 'output'; runId: string; host: string; stream: 'stdout' | 'stderr'; text: string; dropped?: number }
  | { type: 'host-done'; runId: string; result: HostResult }
  | { type: 'done'; runId: string; result: RunResult };

export interface ExecuteOptions {
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  runId?: string;
  /** Keep at most this many characters of output per host in the result. */
  keepOutput?: number;
}

const PERMANENT: Verdict[] = ['auth-failed', 'host-key-mismatch', 'host-key-unknown'];

interface Attempt {
  verdict: Verdict;
  exitCode?: number;
  signal?: string;
  message: string;
  output: string;
  remoteStopped?: boolean;
}

/** Wait `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function executeStep(plan: StepPlan, transport: Transport, opts: ExecuteOptions = {}): Promise<RunResult> {
  const runId = opts.runId ?? randomUUID();
  const { step } = plan;
  const emit = opts.onEvent ?? (() => {});
  const keep = opts.keepOutput ?? 256 * 1024;
  const started = Date.now();
  const startedAt = new Date(started).toISOString();

  // One controller for this run: aborted by the caller (cancel) or by the deadline (timeout).
  const ctl = new AbortController();
  // One listener per host (and per where-check) on this signal: fan-out to 30 hosts is normal.
  setMaxListeners(0, ctl.signal);
  let timedOut = false;
  const onOuterAbort = () => ctl.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (opts.signal?.aborted) ctl.abort();
  const deadline = setTimeout(() => {
    timedOut = true;
    ctl.abort();
  }, step.timeoutMs);

  if (plan.skip) {
    // Not connected to at all: reported as skipped, with the reason.
    clearTimeout(deadline);
    opts.signal?.removeEventListener('abort', onOuterAbort);
    const hosts = plan.targets.map((t) => ({ host: t.host.name, address: t.host.address, verdict: 'skipped' as const, attempts: 0, durationMs: 0, message: plan.skip!, output: '' }));
    const result: RunResult = { runId, step: { globalId: step.globalId, kind: step.kind, title: step.title, hash: step.hash }, inventory: plan.inventory.name, verdict: 'skipped', message: plan.skip, startedAt, durationMs: 0, hosts };
    emit({ type: 'done', runId, result });
    return result;
  }

  emit({
    type: 'start',
    runId,
    step: step.globalId,
    inventory: plan.inventory.name,
    targets: plan.targets.map((t) => ({ host: t.host.name, address: t.host.address, display: t.display })),
  });

  const results = new Map<string, HostResult>();
  const hostStart = new Map<string, number>();
  const attemptsOf = new Map<string, number>();
  const last = new Map<string, Attempt>();

  /** Run one script on one host, streaming output; returns the classified attempt. */
  async function runOn(t: TargetPlan, script: string, streamOutput: boolean, check: boolean): Promise<Attempt> {
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const maskers = { stdout: createMasker(plan.secrets), stderr: createMasker(plan.secrets) };
    let stdout = '';
    let combined = '';
    // Appending is cheap (V8 ropes); trimming copies, so trim only when the
    // text has grown well past its limit: amortized linear in the output.
    const take = (stream: 'stdout' | 'stderr', text: string) => {
      if (!text) return;
      if (stream === 'stdout') {
        stdout += text;
        if (stdout.length > 8 * keep) stdout = stdout.slice(-4 * keep);
      }
      combined += text;
      if (combined.length > 2 * keep) combined = combined.slice(-keep);
      if (streamOutput) emit({ type: 'output', runId, host: t.host.name, stream, text });
    };
    const on = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => take(stream, maskers[stream].push(decoders[stream].write(chunk)));
    const outcome: ExecOutcome = await transportFor(t.host, transport).run(t.host, script, { onStdout: on('stdout'), onStderr: on('stderr'), signal: ctl.signal });
    for (const s of ['stdout', 'stderr'] as const) take(s, maskers[s].push(decoders[s].end()) + maskers[s].flush());
    return classify(outcome, stdout.slice(-4 * keep), combined.slice(-keep), check);
  }

  function classify(o: ExecOutcome, stdout: string, output: string, check: boolean): Attempt {
    switch (o.kind) {
      case 'connect-failed':
        return { verdict: o.failure, message: o.message, output };
      case 'disconnected':
        return { verdict: 'disconnected', message: o.message, output };
      case 'cancelled':
        return timedOut
          ? { verdict: 'timeout', message: `timed out after ${fmtMs(step.timeoutMs)}${o.remoteStopped ? '; the remote process was stopped' : '; the remote process could not be confirmed stopped'}`, output, remoteStopped: o.remoteStopped }
          : { verdict: 'cancelled', message: `cancelled${o.remoteStopped ? '; the remote process was stopped' : '; the remote process could not be confirmed stopped'}`, output, remoteStopped: o.remoteStopped };
      case 'signal':
        return { verdict: 'failed', signal: o.signal, message: `killed by signal ${o.signal}`, output };
      case 'exit': {
        if (!check) return { verdict: o.code === 0 ? 'passed' : 'failed', exitCode: o.code, message: `exit ${o.code}`, output };
        if (!step.expect.exit.includes(o.code)) {
          const want = step.expect.exit.length === 1 ? `${step.expect.exit[0]}` : `one of ${step.expect.exit.join(', ')}`;
          return { verdict: 'failed', exitCode: o.code, message: `exit code ${o.code} (expected ${want})`, output };
        }
        if (step.expect.stdout) {
          const re = new RegExp(step.expect.stdout.source, step.expect.stdout.flags);
          if (!re.test(stdout)) return { verdict: 'expectation-failed', exitCode: o.code, message: `exit ${o.code}, but stdout does not match /${step.expect.stdout.source}/${step.expect.stdout.flags}`, output };
        }
        return { verdict: 'passed', exitCode: o.code, message: step.expect.stdout ? `exit ${o.code}, stdout matches /${step.expect.stdout.source}/` : `exit ${o.code}`, output };
      }
    }
  }

  const finish = (t: TargetPlan, a: Attempt) => {
    const r: HostResult = {
      host: t.host.name,
      address: t.host.address,
      verdict: a.verdict,
      exitCode: a.exitCode,
      signal: a.signal,
      attempts: attemptsOf.get(t.host.name) ?? 0,
      durationMs: Date.now() - (hostStart.get(t.host.name) ?? started),
      message: a.message,
      output: a.output,
      remoteStopped: a.remoteStopped,
    };
    results.set(t.host.name, r);
    emit({ type: 'host-done', runId, result: r });
  };

  const total = step.retries + 1;
  let whereNeverMatched = !!step.where;
  try {
    for (let attempt = 1; attempt <= total && !ctl.signal.aborted; attempt++) {
      let runSet = plan.targets.filter((t) => !results.has(t.host.name));
      if (step.where) {
        // The filter is evaluated again on each attempt: "the host that holds the VIP" can change.
        const checks = await Promise.all(runSet.map(async (t) => ({ t, a: await runOn(t, t.whereScript!, false, false) })));
        for (const { t, a } of checks) {
          if (PERMANENT.includes(a.verdict)) {
            attemptsOf.set(t.host.name, attempt);
            finish(t, a);
          } else if (a.verdict === 'unreachable' || a.verdict === 'disconnected' || a.verdict === 'cancelled' || a.verdict === 'timeout') {
            last.set(t.host.name, a);
          }
        }
        runSet = checks.filter(({ a }) => a.verdict === 'passed').map(({ t }) => t);
        if (runSet.length) whereNeverMatched = false;
      }
      if (ctl.signal.aborted) break;
      emit({ type: 'attempt', runId, attempt, of: total, hosts: runSet.map((t) => t.host.name) });
      await Promise.all(
        runSet.map(async (t) => {
          if (!hostStart.has(t.host.name)) hostStart.set(t.host.name, Date.now());
          attemptsOf.set(t.host.name, attempt);
          const a = await runOn(t, t.script, true, true);
          last.set(t.host.name, a);
          if (a.verdict === 'passed' || PERMANENT.includes(a.verdict) || a.verdict === 'cancelled' || a.verdict === 'timeout') finish(t, a);
        }),
      );
      const anyPassed = [...results.values()].some((r) => r.verdict === 'passed');
      const open = plan.targets.filter((t) => !results.has(t.host.name));
      if (!open.length) break;
      // With a filter, the step is done once it passed on every selected host.
      if (step.where && anyPassed && open.every((t) => !runSet.includes(t))) break;
      if (attempt < total) await sleep(step.delayMs, ctl.signal);
    }
  } finally {
    clearTimeout(deadline);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }

  const anyPassed = [...results.values()].some((r) => r.verdict === 'passed');
  for (const t of plan.targets) {
    if (results.has(t.host.name)) continue;
    const a = last.get(t.host.name);
    const n = attemptsOf.get(t.host.name) ?? 0;
    if (ctl.signal.aborted && (!a || (a.verdict !== 'cancelled' && a.verdict !== 'timeout'))) {
      finish(t, { verdict: timedOut ? 'timeout' : 'cancelled', message: timedOut ? `timed out after ${fmtMs(step.timeoutMs)}` : 'cancelled before it ran here', output: a?.output ?? '' });
    } else if (!a) {
      finish(t, { verdict: 'skipped', message: step.where ? 'the where filter did not select this host' : 'did not run', output: '' });
    } else if (step.where && anyPassed && a.verdict !== 'unreachable') {
      finish(t, { verdict: 'skipped', message: 'the where filter did not select this host', output: '' });
    } else if (step.retries > 0 && n >= total && ['failed', 'expectation-failed', 'unreachable', 'disconnected'].includes(a.verdict)) {
      finish(t, { ...a, verdict: 'retries-exhausted', message: `still failing after ${n} attempts: ${a.message}` });
    } else finish(t, a);
  }

  const hosts = plan.targets.map((t) => results.get(t.host.name)!);
  let verdict = overallVerdict(hosts);
  let message = summarise(hosts, verdict);
  if (step.where && whereNeverMatched && !ctl.signal.aborted && verdict !== 'unreachable') {
    verdict = step.retries > 0 ? 'retries-exhausted' : 'failed';
    message = `no host matched the where filter${step.retries > 0 ? ` in ${total} attempts` : ''}`;
  }
  const result: RunResult = {
    runId,
    step: { globalId: step.globalId, kind: step.kind, title: step.title, hash: step.hash },
    inventory: plan.inventory.name,
    verdict,
    message,
    startedAt,
    durationMs: Date.now() - started,
    hosts,
  };
  emit({ type: 'done', runId, result });
  return result;
}

function summarise(hosts: HostResult[], verdict: Verdict): string {
  const ran = hosts.filter((h) => h.verdict !== 'skipped');
  if (verdict === 'passed') return `passed on ${ran.length} of ${hosts.length} host${hosts.length === 1 ? '' : 's'}`;
  const bad = hosts.filter((h) => h.verdict === verdict);
  return `${bad.map((h) => h.host).join(', ')}: ${bad[0]?.message ?? verdict}`;
}

export function fmtMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}
