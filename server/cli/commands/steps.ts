/** `drillbook steps`: the manifest, as a table or JSON. */
import { findChapter } from '../../../src/runbook/manifest.ts';
import { UsageError } from '../../../src/runbook/errors.ts';
import { RunnerSession } from '../../runner/session.ts';
import { c, table } from '../render.ts';

export function stepsCommand(args: string[], values: Record<string, unknown>): number {
  const { manifest } = new RunnerSession({});
  let chapters = manifest.chapters;
  if (args[0]) {
    const ch = findChapter(manifest, args[0]);
    if (!ch) throw new UsageError(`no chapter matches "${args[0]}"`, args[0]);
    chapters = [ch];
  }
  if (values.json) {
    process.stdout.write(JSON.stringify({ chapters }, null, 2) + '\n');
    return 0;
  }
  for (const ch of chapters) {
    const fm = ch.frontmatter;
    process.stdout.write(`\n${c.bold(`${fm.chapter}. ${fm.title}`)}  ${c.dim(`${ch.slug} · lab ${fm.lab}${fm.buildsOn.length ? ` · builds on ${fm.buildsOn.join(', ')}` : ''}`)}\n`);
    if (!ch.steps.length) {
      process.stdout.write(c.dim('  no runnable steps yet\n'));
      continue;
    }
    const rows = ch.steps.map((s) => [`  ${s.id}`, s.kind + (s.drill ? c.dim(` (drill ${s.drill})`) : ''), s.on, s.title + (s.needs === 'vm' ? c.yellow(' (needs VMs)') : '')]);
    for (const d of ch.drills) rows.push([`  ${d.id}`, c.bold('drill'), `probe from ${d.probe.from}`, `${d.title} ${c.dim(`(every ${d.probe.intervalMs} ms; ${[d.breakStep, d.verifyStep, d.recoverStep].filter(Boolean).map((g) => g!.split('/')[1]).join(' → ')})`)}`]);
    for (const mp of ch.maps) rows.push([`  ${mp.id}`, 'map', mp.on, mp.title]);
    process.stdout.write(table(rows, ['  STEP', 'KIND', 'ON', 'TITLE']) + '\n');
  }
  return 0;
}
