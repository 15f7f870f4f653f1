/** Drillbook's own side of a case: chapters written as MDX, run through the real extractor, planner and runner. */
import { performance } from 'node:perf_hooks';
import type { Inventory } from '../../server/inventory.ts';
import { executeStep } from '../../server/runner/execute.ts';
import { planStep, type StepPlan } from '../../server/runner/plan.ts';
import type { Transport } from '../../server/transports/types.ts';
import { chapterFrom, frontmatter, step } from '../../test/fixtures/chapters.ts';

export const BENCH_CHAPTER = '01-bench';

/** MDX of a chapter holding the given steps (attrs + script). */
export function benchChapterText(steps: { attrs: string; script: string }[]): string {
  return frontmatter() + steps.map((s) => step(s.attrs, s.script)).join('');
}

export function planFor(attrs: string, script: string, inv: Inventory): StepPlan {
  const ch = chapterFrom(step(`id="s" title="Bench" ${attrs}`, script), { slug: BENCH_CHAPTER });
  return planStep(ch.steps[0], ch, inv, {});
}

export interface TimedRun {
  firstByteMs?: number;
  wallMs: number;
  outputBytes: number;
  verdict: string;
  hosts: number;
  passed: number;
  message: string;
}

/** executeStep with timing: first output byte and completion, from the call. keepOutput: as the server (default) unless given. */
export async function timedRun(plan: StepPlan, transport: Transport, keepOutput?: number): Promise<TimedRun> {
  const t0 = performance.now();
  let firstByteMs: number | undefined;
  let outputBytes = 0;
  const r = await executeStep(plan, transport, {
    keepOutput,
    onEvent: (e) => {
      if (e.type !== 'output') return;
      firstByteMs ??= performance.now() - t0;
      outputBytes += Buffer.byteLength(e.text);
    },
  });
  const wallMs = performance.now() - t0;
  return { firstByteMs, wallMs, outputBytes, verdict: r.verdict, hosts: r.hosts.length, passed: r.hosts.filter((h) => h.verdict === 'passed').length, message: r.message };
}

export function mustPass(what: string, r: TimedRun): TimedRun {
  if (r.verdict !== 'passed') throw new Error(`${what}: ${r.verdict}: ${r.message}`);
  return r;
}
