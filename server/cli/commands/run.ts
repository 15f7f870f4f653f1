/** `drillbook run`: the same runner as the page, headless. */
import { DrillbookError } from '../../../src/runbook/errors.ts';
import { findChapter, prerequisiteSteps, selectItems, type RunItem } from '../../../src/runbook/manifest.ts';
import type { Step } from '../../../src/runbook/types.ts';
import { fmtMs } from '../../runner/execute.ts';
import { isOk, type RunResult } from '../../runner/results.ts';
import { RunnerSession } from '../../runner/session.ts';
import { parseVars } from '../options.ts';
import { c, PrefixedOutput, table, verdictText } from '../render.ts';
import type { DrillResult } from '../../runner/drill.ts';
import { drillPrinter, figuresTable, sampleStrip } from './drill.ts';

type Values = Record<string, string | boolean | string[] | undefined>;

export async function runCommand(args: string[], values: Values, signal: AbortSignal): Promise<number> {
  const session = new RunnerSession({ inventory: values.inventory as string | undefined, lab: values.lab as string | undefined, allowBreaks: !!values['allow-breaks'] });
  try {
    let items = selectItems(session.manifest, args);
    if (values['from-scratch']) {
      // The chapters' own steps are not repeated as prerequisites of each other.
      const selected = new Set(items.map((it) => (it.kind === 'step' ? it.step.globalId : it.drill.globalId)));
      const chapters = [...new Set(args.map((a) => findChapter(session.manifest, a.split('/')[0])).filter((c) => c !== undefined))];
      const before = chapters.flatMap((c) => prerequisiteSteps(session.manifest, c)).filter((st, i, all) => !selected.has(st.globalId) && all.findIndex((x) => x.globalId === st.globalId) === i);
      items = [...before.map((step) => ({ kind: 'step' as const, step })), ...items];
    }
    const vars = parseVars(values.var as string[] | undefined);
    if (!items.length) {
      process.stderr.write('nothing to run: the selected chapters have no runnable steps yet\n');
      return 0;
    }
    // A dry run shows every step, including each drill's own steps.
    const steps = items.flatMap((it) => (it.kind === 'step' ? [it.step] : session.manifest.chapters.flatMap((ch) => ch.steps).filter((st) => st.drill === it.drill.id && st.chapter === it.drill.chapter)));
    return values['dry-run'] ? dryRun(session, steps, vars, !!values.json) : await execute(session, items, vars, values, signal);
  } finally {
    await session.close();
  }
}

function paramsFor(step: Step, vars: Record<string, string>, session: RunnerSession): Record<string, string> {
  // --var applies to every selected chapter that declares the variable.
  const declared = session.manifest.chapters.find((ch) => ch.slug === step.chapter)!.frontmatter.vars;
  return Object.fromEntries(Object.entries(vars).filter(([k]) => k in declared));
}

function checkVarsKnown(session: RunnerSession, steps: Step[], vars: Record<string, string>) {
  const chapters = new Set(steps.map((s) => s.chapter));
  const known = new Set(session.manifest.chapters.filter((ch) => chapters.has(ch.slug)).flatMap((ch) => Object.keys(ch.frontmatter.vars)));
  for (const name of Object.keys(vars)) {
    if (!known.has(name)) throw new DrillbookError('variable', `no selected chapter declares a variable "${name}"`, { where: '--var', hint: known.size ? `known: ${[...known].join(', ')}` : 'the selected chapters declare no variables' });
  }
}

function dryRun(session: RunnerSession, steps: Step[], vars: Record<string, string>, json: boolean): number {
  checkVarsKnown(session, steps, vars);
  const inv = session.inventory();
  const plans = steps.map((s) => session.plan(s, paramsFor(s, vars, session), '--var', inv));
  if (json) {
    const out = plans.map((p) => ({
      step: p.step.globalId,
      kind: p.step.kind,
      title: p.step.title,
      needsConfirm: p.needsConfirm,
      expect: p.step.expect,
      retries: p.step.retries,
      delayMs: p.step.delayMs,
      timeoutMs: p.step.timeoutMs,
      targets: p.targets.map((t) => ({ host: t.host.name, address: t.host.address, port: t.host.port, user: t.host.user, where: t.whereDisplay, script: t.display })),
    }));
    process.stdout.write(JSON.stringify({ inventory: inv.name, dryRun: true, steps: out }, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(c.dim(`dry run against ${inv.name} (${inv.file}); nothing is connected\n\n`));
  for (const p of plans) {
    process.stdout.write(`${c.bold(p.step.globalId)}  ${p.step.title}  ${c.dim(`[${p.step.kind}${p.needsConfirm ? ', needs --confirm ' + inv.name : ''}]`)}\n`);
    process.stdout.write(`  on ${p.step.on}: ${p.targets.map((t) => `${t.host.name} (${t.host.user}@${t.host.address}:${t.host.port})`).join(', ')}\n`);
    if (p.skip) process.stdout.write(c.yellow(`  skipped on this target: ${p.skip}\n`));
    if (p.step.retries) process.stdout.write(`  retry until it passes: ${p.step.retries} retries, ${fmtMs(p.step.delayMs)} apart, ${fmtMs(p.step.timeoutMs)} at most\n`);
    if (p.step.expect.stdout || p.step.expect.exit.join() !== '0') process.stdout.write(`  expect: exit ${p.step.expect.exit.join(' or ')}${p.step.expect.stdout ? `, stdout /${p.step.expect.stdout.source}/` : ''}\n`);
    // Hosts whose resolved script is identical are shown once.
    const groups = new Map<string, string[]>();
    for (const t of p.targets) groups.set(`${t.whereDisplay ?? ''}\0${t.display}`, [...(groups.get(`${t.whereDisplay ?? ''}\0${t.display}`) ?? []), t.host.name]);
    for (const [key, hosts] of groups) {
      const [where, script] = key.split('\0');
      process.stdout.write(c.dim(`  --- ${hosts.join(', ')} ---\n`));
      if (where) process.stdout.write(c.dim(`  where: ${where}\n`));
      process.stdout.write(script.split('\n').map((l) => `  ${l}`).join('\n') + '\n');
    }
    process.stdout.write('\n');
  }
  return 0;
}

async function execute(session: RunnerSession, items: RunItem[], vars: Record<string, string>, values: Values, signal: AbortSignal): Promise<number> {
  const steps = items.map((it) => (it.kind === 'step' ? it.step : session.manifest.chapters.flatMap((ch) => ch.steps).find((st) => st.globalId === it.drill.breakStep)!));
  checkVarsKnown(session, steps, vars);
  const json = !!values.json;
  const inv = session.inventory();
  const results: RunResult[] = [];
  const notRun: string[] = [];
  const width = Math.max(4, ...Object.keys(inv.hosts).map((h) => h.length));
  const out = new PrefixedOutput(width);
  const drills: DrillResult[] = [];
  const ok = () => results.every((r) => isOk(r.verdict)) && drills.every((d) => isOk(d.verdict));
  for (const [i, item] of items.entries()) {
    const name = item.kind === 'step' ? item.step.globalId : item.drill.globalId;
    if (signal.aborted) {
      notRun.push(name);
      continue;
    }
    if (!ok() && !values['keep-going']) {
      notRun.push(...items.slice(i).map((it) => (it.kind === 'step' ? it.step.globalId : it.drill.globalId)));
      break;
    }
    if (item.kind === 'drill') {
      const plans = session.planDrill(item.drill, paramsFor(steps[i], vars, session), '--var', inv);
      session.checkConfirmation(plans.breakStep, values.confirm as string | undefined);
      if (!json) process.stdout.write(`\n${c.bold('▶ drill ' + item.drill.globalId)}  ${item.drill.title}  ${c.dim(`[probe from ${item.drill.probe.from} every ${fmtMs(item.drill.probe.intervalMs)}]`)}\n`);
      const r = await session.runDrill(plans, { signal, source: 'cli', onEvent: json ? undefined : drillPrinter(width) });
      drills.push(r);
      if (!json) process.stdout.write(`  ${sampleStrip(r)}\n${figuresTable(r)}\n${verdictText(r.verdict)}  ${r.message}\n`);
      continue;
    }
    const step = item.step;
    const plan = session.plan(step, paramsFor(step, vars, session), '--var', inv);
    session.checkConfirmation(plan, values.confirm as string | undefined);
    if (!json) process.stdout.write(`\n${c.bold('▶ ' + step.globalId)}  ${step.title}  ${c.dim(`[${step.kind} on ${step.on} → ${plan.targets.map((t) => t.host.name).join(', ')}]`)}\n`);
    const result = await session.run(plan, {
      signal,
      source: 'cli',
      onEvent: (e) => {
        if (json) return;
        if (e.type === 'output') out.push(e.host, e.stream, e.text);
        else if (e.type === 'attempt' && (e.attempt === 2 || e.attempt % 10 === 0)) process.stdout.write(c.dim(`  … attempt ${e.attempt} of ${e.of} on ${e.hosts.join(', ') || '(no host selected)'}\n`));
        else if (e.type === 'host-done') {
          out.flush(e.result.host);
          if (e.result.verdict !== 'passed') process.stdout.write(`${c.cyan(e.result.host.padEnd(width))}   ${verdictText(e.result.verdict)}: ${e.result.message}\n`);
        }
      },
    });
    out.flush();
    results.push(result);
    if (!json) process.stdout.write(`${verdictText(result.verdict)}  ${result.message}  ${c.dim(fmtMs(result.durationMs))}\n`);
  }
  const failed = [...results, ...drills].filter((r) => !isOk(r.verdict));
  const cancelled = signal.aborted || results.some((r) => r.verdict === 'cancelled') || drills.some((d) => d.verdict === 'cancelled');
  if (json) {
    process.stdout.write(JSON.stringify({ inventory: inv.name, ok: failed.length === 0 && !cancelled, results, drills, notRun }, null, 2) + '\n');
  } else {
    const rows = results.flatMap((r) =>
      r.hosts.map((h, i) => [i === 0 ? r.step.globalId : '', h.host, verdictText(h.verdict), h.exitCode === undefined ? '-' : String(h.exitCode), String(h.attempts), fmtMs(h.durationMs)]),
    );
    for (const d of drills) rows.push([d.drill.globalId, '(drill)', verdictText(d.verdict), '-', '-', `outage ${fmtMs(d.figures.outageMs)}`]);
    process.stdout.write(`\n${table(rows, ['STEP', 'HOST', 'VERDICT', 'EXIT', 'TRIES', 'TIME'])}\n`);
    const skipped = results.filter((r) => r.verdict === 'skipped').length;
    const passed = results.length + drills.length - failed.length - skipped;
    process.stdout.write(`\n${passed} step${passed === 1 ? '' : 's'} passed, ${failed.length} failed${skipped ? `, ${skipped} skipped` : ''}${notRun.length ? `, ${notRun.length} not run` : ''} on ${inv.name}\n`);
  }
  if (cancelled) return 130;
  return failed.length ? 1 : 0;
}
