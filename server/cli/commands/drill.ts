/** `drillbook drill`: run a drill (fault + probe + recovery) and report what it measured. */
import { UsageError } from '../../../src/runbook/errors.ts';
import { findChapter } from '../../../src/runbook/manifest.ts';
import type { Drill } from '../../../src/runbook/types.ts';
import { spread, type DrillEvent, type DrillResult } from '../../runner/drill.ts';
import { fmtMs } from '../../runner/execute.ts';
import { isOk } from '../../runner/results.ts';
import { RunnerSession } from '../../runner/session.ts';
import { parseVars } from '../options.ts';
import { c, PrefixedOutput, table, verdictText } from '../render.ts';

type Values = Record<string, string | boolean | string[] | undefined>;

/** A one-line strip of the probe results: · success, ✕ failure, ┃ the fault. */
export function sampleStrip(r: DrillResult, width = 100): string {
  const s = r.samples;
  if (!s.length) return '';
  const step = Math.max(1, Math.ceil(s.length / width));
  let out = '';
  let faultShown = false;
  for (let i = 0; i < s.length; i += step) {
    const chunk = s.slice(i, i + step);
    if (!faultShown && chunk[chunk.length - 1].t >= 0) {
      out += c.yellow('┃');
      faultShown = true;
    }
    out += chunk.every((x) => x.ok) ? c.green('·') : c.red('✕');
  }
  return out;
}

export function figuresTable(r: DrillResult): string {
  const f = r.figures;
  const ms = (v: number | null) => (v === null ? '-' : fmtMs(v));
  return table(
    [
      ['served before → after', `${f.servedBefore ?? '?'} → ${f.servedAfter ?? '?'}`],
      ['first failed probe', f.firstFailureMs === null ? 'none' : ms(f.firstFailureMs)],
      ['outage (longest failed run)', fmtMs(f.outageMs)],
      ['service restored at', ms(f.restoredMs)],
      ['recovery condition held at', ms(f.recoveryConditionMs)],
      ['failed / total probes', `${f.failed} / ${f.total}`],
    ],
    ['FIGURE', 'VALUE'],
  );
}

/** Live output of a drill on the terminal. */
export function drillPrinter(width: number) {
  const out = new PrefixedOutput(width);
  return (e: DrillEvent) => {
    if (e.type === 'drill-phase') process.stdout.write(c.dim(`  [${fmtMs(e.phase.t).padStart(8)}] ${e.phase.name}\n`));
    else if (e.type === 'drill-step') {
      const ev = e.event;
      if (ev.type === 'start') process.stdout.write(`  ${c.bold(e.role)}: ${ev.step} on ${ev.targets.map((t) => t.host).join(', ')}\n`);
      else if (ev.type === 'output') out.push(ev.host, ev.stream, ev.text);
      else if (ev.type === 'attempt' && ev.attempt > 1 && ev.attempt % 5 === 0) process.stdout.write(c.dim(`  … ${e.role} attempt ${ev.attempt} of ${ev.of}\n`));
      else if (ev.type === 'done') {
        out.flush();
        process.stdout.write(`  ${verdictText(ev.result.verdict)} ${ev.result.message} ${c.dim(fmtMs(ev.result.durationMs))}\n`);
      }
    }
  };
}

export async function drillCommand(args: string[], values: Values, signal: AbortSignal): Promise<number> {
  const [sel] = args;
  const session = new RunnerSession({ inventory: values.inventory as string | undefined, lab: values.lab as string | undefined, allowBreaks: !!values['allow-breaks'] });
  try {
    const [chapSel, id] = sel.split('/', 2);
    const chapter = findChapter(session.manifest, chapSel);
    const drill: Drill | undefined = chapter?.drills.find((d) => d.id === id);
    if (!drill) {
      const known = session.manifest.chapters.flatMap((ch) => ch.drills.map((d) => d.globalId));
      throw new UsageError(`no drill "${sel}"`, sel, known.length ? `drills: ${known.join(', ')}` : 'no chapter has a drill yet');
    }
    const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) throw new UsageError('--repeat takes a number from 1 to 100', '--repeat');
    if (repeat > 1 && !drill.recoverStep) throw new UsageError(`${drill.globalId} has no recover step, so it cannot restore the lab between repeats`, '--repeat');
    const vars = parseVars(values.var as string[] | undefined);
    const inv = session.inventory();
    const plans = session.planDrill(drill, vars, '--var', inv);
    const json = !!values.json;
    if (values['dry-run']) {
      const show = (role: string, p: typeof plans.breakStep) =>
        `  ${c.bold(role)} ${p.step.globalId} on ${p.targets.map((t) => t.host.name).join(', ')}${p.step.where ? c.dim(` where ${p.targets[0]?.whereDisplay ?? p.step.where}`) : ''}${p.step.retries ? c.dim(` (retry ${p.step.retries}× every ${fmtMs(p.step.delayMs)})`) : ''}\n${p.targets[0]?.display.split('\n').map((l) => `      ${l}`).join('\n')}\n`;
      if (json) {
        const view = (p: typeof plans.breakStep) => ({ step: p.step.globalId, targets: p.targets.map((t) => ({ host: t.host.name, where: t.whereDisplay, script: t.display })) });
        process.stdout.write(JSON.stringify({ drill: drill.globalId, inventory: inv.name, dryRun: true, probe: { from: plans.probe.targets[0].host.name, intervalMs: drill.probe.intervalMs, timeoutMs: drill.probe.timeoutMs, script: drill.probe.script }, break: view(plans.breakStep), verify: view(plans.verify), recover: plans.recover && view(plans.recover) }, null, 2) + '\n');
      } else {
        process.stdout.write(c.dim(`dry run against ${inv.name}; nothing is connected\n`) + `${c.bold(`drill ${drill.globalId}`)}  ${drill.title}\n  ${c.bold('probe')} from ${plans.probe.targets[0].host.name} every ${fmtMs(drill.probe.intervalMs)} (each at most ${fmtMs(drill.probe.timeoutMs)}), baseline ${fmtMs(drill.baselineMs)}, settle ${fmtMs(drill.settleMs)}\n${drill.probe.script.split('\n').map((l) => `      ${l}`).join('\n')}\n` + show('break', plans.breakStep) + show('verify', plans.verify) + (plans.recover ? show('recover', plans.recover) : ''));
      }
      return 0;
    }
    session.checkConfirmation(plans.breakStep, values.confirm as string | undefined);
    const results: DrillResult[] = [];
    const width = Math.max(5, ...Object.keys(inv.hosts).map((h) => h.length));
    for (let i = 0; i < repeat && !signal.aborted; i++) {
      if (!json) process.stdout.write(`\n${c.bold(`▶ drill ${drill.globalId}`)}  ${drill.title}${repeat > 1 ? c.dim(`  (run ${i + 1} of ${repeat})`) : ''}\n  probe from ${drill.probe.from} every ${fmtMs(drill.probe.intervalMs)}\n`);
      const r = await session.runDrill(plans, { signal, source: 'cli', onEvent: json ? undefined : drillPrinter(width) });
      results.push(r);
      if (!json) {
        process.stdout.write(`  ${sampleStrip(r)}\n${figuresTable(r)}\n${verdictText(r.verdict)}  ${r.message}\n`);
      }
    }
    const summary = {
      outageMs: spread(results.map((r) => r.figures.outageMs)),
      restoredMs: spread(results.map((r) => r.figures.restoredMs)),
      recoveryConditionMs: spread(results.map((r) => r.figures.recoveryConditionMs)),
      failedProbes: spread(results.map((r) => r.figures.failed)),
    };
    if (json) process.stdout.write(JSON.stringify({ drill: drill.globalId, inventory: inv.name, runs: results, summary }, null, 2) + '\n');
    else if (results.length > 1) {
      const row = (name: string, s: ReturnType<typeof spread>, fmt: (n: number) => string) => [name, s ? fmt(s.min) : '-', s ? fmt(s.median) : '-', s ? fmt(s.max) : '-'];
      process.stdout.write(
        `\n${table(
          [row('outage', summary.outageMs, fmtMs), row('service restored at', summary.restoredMs, fmtMs), row('recovery condition held at', summary.recoveryConditionMs, fmtMs), row('failed probes', summary.failedProbes, String)],
          [`OVER ${results.length} RUNS`, 'MIN', 'MEDIAN', 'MAX'],
        )}\n`,
      );
    }
    if (signal.aborted) return 130;
    return results.every((r) => isOk(r.verdict)) ? 0 : 1;
  } finally {
    await session.close();
  }
}

