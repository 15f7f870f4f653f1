/**
 * Run a drill and measure it: start the probe, establish a baseline, run
 * the break step, wait for the recovery condition, keep probing for the
 * settle period, stop the probe, restore with the recover step, and report
 * what the probe saw.
 */
import { randomUUID } from 'node:crypto';
import type { Drill } from '../../src/runbook/types.ts';
import { transportFor } from '../transports/local.ts';
import type { Transport } from '../transports/types.ts';
import { executeStep, fmtMs, sleep, type RunEvent } from './execute.ts';
import type { StepPlan } from './plan.ts';
import { parseProbeLines, probeAsStep, type RawSample } from './probe.ts';
import { isOk, type RunResult, type Verdict } from './results.ts';

export interface ProbeSample {
  /** Start of the probe, ms relative to the start of the fault (negative = baseline). */
  t: number;
  /** How long the probe took, ms. */
  ms: number;
  ok: boolean;
  rc: number;
  /** What answered (the probe's first output line), if it said. */
  backend?: string;
}

export interface DrillFigures {
  /** ms from the fault to the start of the first failed probe; null when none failed. */
  firstFailureMs: number | null;
  /** Longest run of failed probes: from the first failure's start to the next success's start, ms. */
  outageMs: number;
  /** ms from the fault to the first successful probe after the last failure; null if never restored while probing. */
  restoredMs: number | null;
  /** ms from the fault until the recovery condition held; null if it never did. */
  recoveryConditionMs: number | null;
  failed: number;
  total: number;
  servedBefore?: string;
  servedAfter?: string;
}

export interface DrillPhase {
  name: 'baseline' | 'fault' | 'fault-done' | 'recovered' | 'settled' | 'restored-lab';
  /** ms relative to the fault. */
  t: number;
}

export interface DrillResult {
  runId: string;
  drill: { globalId: string; title: string; hash: string };
  inventory: string;
  verdict: Verdict;
  message: string;
  startedAt: string;
  durationMs: number;
  phases: DrillPhase[];
  samples: ProbeSample[];
  figures: DrillFigures;
  steps: { break?: RunResult; verify?: RunResult; recover?: RunResult };
}

/** Live events carry times relative to the start of the drill; the result, relative to the fault. */
export type DrillEvent =
  | { type: 'drill-phase'; runId: string; phase: DrillPhase }
  | { type: 'drill-sample'; runId: string; sample: ProbeSample }
  | { type: 'drill-step'; runId: string; role: 'break' | 'verify' | 'recover'; event: RunEvent }
  | { type: 'drill-done'; runId: string; result: DrillResult };

export interface DrillPlans {
  drill: Drill;
  probe: StepPlan;
  breakStep: StepPlan;
  verify: StepPlan;
  recover?: StepPlan;
}

export interface DrillOptions {
  signal?: AbortSignal;
  onEvent?: (e: DrillEvent) => void;
  runId?: string;
}

const now = () => performance.timeOrigin + performance.now();


/**
 * Who served a window of samples: the backend that answered at least 80 % of
 * them, or, behind a balancer that spreads requests, every backend that
 * answered, sorted and comma-joined ("ctl1,ctl2,ctl3").
 */
export function servedBy(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  const [top] = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  if (!top) return undefined;
  return top[1] >= 0.8 * values.length ? top[0] : [...counts.keys()].sort().join(',');
}

/** The figures, from the samples alone (and when the recovery condition held). */
export function computeFigures(samples: ProbeSample[], recoveryConditionMs: number | null): DrillFigures {
  const after = samples.filter((s) => s.t + s.ms >= 0);
  let firstFailureMs: number | null = null;
  let outageMs = 0;
  let restoredMs: number | null = null;
  let runStart: number | null = null;
  let lastFailureIdx = -1;
  after.forEach((s, i) => {
    if (!s.ok) {
      if (firstFailureMs === null) firstFailureMs = Math.max(0, s.t);
      if (runStart === null) runStart = s.t;
      lastFailureIdx = i;
    } else if (runStart !== null) {
      outageMs = Math.max(outageMs, s.t - runStart);
      runStart = null;
    }
  });
  if (runStart !== null) {
    const last = after.at(-1)!;
    outageMs = Math.max(outageMs, last.t + last.ms - runStart);
  }
  if (lastFailureIdx >= 0) {
    const next = after.slice(lastFailureIdx + 1).find((s) => s.ok);
    restoredMs = next ? next.t : null;
  } else restoredMs = 0;
  const before = samples.filter((s) => s.t < 0 && s.ok && s.backend).map((s) => s.backend!);
  const tail = samples.filter((s) => s.ok && s.backend && (recoveryConditionMs === null || s.t >= recoveryConditionMs)).map((s) => s.backend!);
  return {
    firstFailureMs,
    outageMs: Math.round(outageMs),
    restoredMs: restoredMs === null ? null : Math.round(restoredMs),
    recoveryConditionMs: recoveryConditionMs === null ? null : Math.round(recoveryConditionMs),
    failed: samples.filter((s) => !s.ok).length,
    total: samples.length,
    servedBefore: servedBy(before),
    servedAfter: servedBy(tail.slice(-10)),
  };
}

export function describeFigures(f: DrillFigures): string {
  const parts: string[] = [];
  if (f.servedBefore || f.servedAfter) {
    parts.push(f.servedBefore && f.servedAfter && f.servedBefore !== f.servedAfter ? `moved from ${f.servedBefore} to ${f.servedAfter}` : `served by ${f.servedAfter ?? f.servedBefore} throughout`);
  }
  parts.push(f.firstFailureMs === null ? 'no probe failed' : `first failed probe at ${fmtMs(Math.round(f.firstFailureMs))}; outage ${fmtMs(f.outageMs)}`);
  if (f.restoredMs === null) parts.push('service not restored while probing');
  else if (f.firstFailureMs !== null) parts.push(`service restored at ${fmtMs(f.restoredMs)}`);
  parts.push(f.recoveryConditionMs === null ? 'recovery condition never held' : `recovery condition held at ${fmtMs(f.recoveryConditionMs)}`);
  parts.push(`${f.failed} of ${f.total} probes failed`);
  return parts.join('; ');
}

export async function runDrill(plans: DrillPlans, transport: Transport, opts: DrillOptions = {}): Promise<DrillResult> {
  const runId = opts.runId ?? randomUUID();
  const emit = opts.onEvent ?? (() => {});
  const { drill } = plans;
  const ctl = new AbortController();
  const onOuter = () => ctl.abort();
  opts.signal?.addEventListener('abort', onOuter, { once: true });
  if (opts.signal?.aborted) ctl.abort();
  const started = now();
  const startedAt = new Date().toISOString();
  let faultAt: number | null = null;
  const phases: DrillPhase[] = [];
  const raw: { s: RawSample; arrival: number }[] = [];
  let offset = Infinity; // local clock - probing host's clock, estimated from the fastest delivery
  const rel = (local: number) => local - (faultAt ?? started);
  const phase = (name: DrillPhase['name'], at = now()) => {
    phases.push({ name, t: Math.round(rel(at)) });
    emit({ type: 'drill-phase', runId, phase: { name, t: Math.round(at - started) } });
  };
  const toSample = (r: RawSample): ProbeSample => ({ t: Math.round(rel(r.t0 + offset)), ms: Math.round(r.t1 - r.t0), ok: r.rc === 0, rc: r.rc, backend: r.out || undefined });

  // 1. The probe, for the whole drill.
  const probeCtl = new AbortController();
  ctl.signal.addEventListener('abort', () => probeCtl.abort(), { once: true });
  const probeTransport = transportFor(plans.probe.targets[0].host, transport);
  let buffer = '';
  let firstSample: () => void = () => {};
  const gotFirst = new Promise<void>((r) => (firstSample = r));
  const probeDone = probeTransport.run(plans.probe.targets[0].host, plans.probe.targets[0].script, {
    signal: probeCtl.signal,
    onStdout: (chunk) => {
      const arrival = now();
      const { samples, rest } = parseProbeLines(buffer + chunk.toString());
      buffer = rest;
      for (const s of samples) {
        offset = Math.min(offset, arrival - s.t1);
        raw.push({ s, arrival });
        emit({ type: 'drill-sample', runId, sample: { ...toSample(s), t: Math.round(s.t0 + offset - started) } });
        firstSample();
      }
    },
    onStderr: () => {},
  });

  const steps: DrillResult['steps'] = {};
  let verdict: Verdict = 'passed';
  let message = '';
  const stepEvents = (role: 'break' | 'verify' | 'recover') => (event: RunEvent) => emit({ type: 'drill-step', runId, role, event });
  try {
    phase('baseline');
    const first = await Promise.race([gotFirst.then(() => true), probeDone.then(() => false), sleep(drill.probe.timeoutMs + 10_000, ctl.signal).then(() => false)]);
    if (!first) {
      const o = await Promise.race([probeDone, Promise.resolve(undefined)]);
      throw Object.assign(new Error(`the probe did not start${o && o.kind === 'connect-failed' ? `: ${o.message}` : ''}`), { verdict: o && o.kind === 'connect-failed' ? o.failure : 'failed' });
    }
    await sleep(drill.baselineMs, ctl.signal);
    if (ctl.signal.aborted) throw Object.assign(new Error('cancelled during the baseline'), { verdict: 'cancelled' });
    if (!raw.some((r) => r.s.rc === 0)) {
      throw Object.assign(new Error('the service was not up before the fault: no probe succeeded during the baseline, so nothing was broken'), { verdict: 'failed' });
    }

    // 2. The fault. Times are relative to its start from here on.
    faultAt = now();
    for (const p of phases) p.t = Math.round(p.t - (faultAt - started));
    phase('fault', faultAt);
    steps.break = await executeStep(plans.breakStep, transport, { signal: ctl.signal, onEvent: stepEvents('break') });
    phase('fault-done');
    if (!isOk(steps.break.verdict)) throw Object.assign(new Error(`the break step did not pass: ${steps.break.message}`), { verdict: steps.break.verdict });

    // 3. Recovery condition (retry-until), then settle.
    steps.verify = await executeStep(plans.verify, transport, { signal: ctl.signal, onEvent: stepEvents('verify') });
    if (isOk(steps.verify.verdict)) phase('recovered');
    else throw Object.assign(new Error(`the recovery condition did not hold: ${steps.verify.message}`), { verdict: steps.verify.verdict });
    await sleep(drill.settleMs, ctl.signal);
    phase('settled');
  } catch (e) {
    const err = e as Error & { verdict?: Verdict };
    verdict = ctl.signal.aborted ? 'cancelled' : (err.verdict ?? 'failed');
    message = err.message;
  } finally {
    probeCtl.abort();
    await probeDone;
    opts.signal?.removeEventListener('abort', onOuter);
  }

  // 4. Restore the lab, whatever happened (not after a cancel: the reader asked to stop).
  if (plans.recover && faultAt !== null && !ctl.signal.aborted) {
    steps.recover = await executeStep(plans.recover, transport, { onEvent: stepEvents('recover') });
    phase('restored-lab');
    if (!isOk(steps.recover.verdict) && verdict === 'passed') {
      verdict = steps.recover.verdict;
      message = `the recover step did not pass: ${steps.recover.message}`;
    }
  }

  const samples = raw.map((r) => toSample(r.s));
  const recovered = phases.find((p) => p.name === 'recovered');
  const figures = computeFigures(samples, recovered ? recovered.t : null);
  const summary = describeFigures(figures);
  const result: DrillResult = {
    runId,
    drill: { globalId: drill.globalId, title: drill.title, hash: drill.hash },
    inventory: plans.breakStep.inventory.name,
    verdict,
    message: message ? `${message}${faultAt !== null ? `; ${summary}` : ''}` : summary,
    startedAt,
    durationMs: Math.round(now() - started),
    phases,
    samples,
    figures,
    steps,
  };
  emit({ type: 'drill-done', runId, result });
  return result;
}

/** min / median / max of a figure over repeated runs (nulls left out). */
export function spread(values: (number | null)[]): { min: number; median: number; max: number; n: number } | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = Math.floor(v.length / 2);
  return { min: v[0], median: v.length % 2 ? v[mid] : Math.round((v[mid - 1] + v[mid]) / 2), max: v.at(-1)!, n: v.length };
}

