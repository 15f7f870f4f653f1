/** `drillbook history`: what ran where, and exports usable as a change record. */
import { UsageError } from '../../../src/runbook/errors.ts';
import { findChapter, loadManifest } from '../../../src/runbook/manifest.ts';
import { History, type HostRow, type RunRow } from '../../history/db.ts';
import { fmtMs } from '../../runner/execute.ts';
import { c, table, verdictText } from '../render.ts';
import type { Verdict } from '../../runner/results.ts';

type Values = Record<string, string | boolean | string[] | undefined>;

const verdict = (r: RunRow) => (r.status === 'running' ? c.yellow('… running') : r.status === 'interrupted' ? c.yellow('■ interrupted') : verdictText((r.verdict ?? 'failed') as Verdict));

export function historyCommand(args: string[], values: Values): number {
  const [action = 'list', arg] = args;
  const history = new History();
  try {
    history.markInterrupted();
    switch (action) {
      case 'list': {
        const chapter = values.chapter ? findChapter(loadManifest(), String(values.chapter))?.slug : undefined;
        if (values.chapter && !chapter) throw new UsageError(`no chapter matches "${values.chapter}"`, '--chapter');
        const limit = values.limit === undefined ? 30 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a positive number', '--limit');
        const rows = history.list({ chapter, inventory: values.inventory as string | undefined, limit });
        if (values.json) process.stdout.write(JSON.stringify(rows.map(publicRun), null, 2) + '\n');
        else if (!rows.length) process.stdout.write('no runs recorded yet\n');
        else
          process.stdout.write(
            table(
              rows.map((r) => [r.started_at.replace('T', ' ').slice(0, 19), r.id.slice(0, 8), `${r.kind === 'drill' ? 'drill ' : ''}${r.item}`, `${r.inventory}${r.profile === 'production' ? c.red(' (production)') : ''}`, verdict(r), r.duration_ms === null ? '-' : fmtMs(r.duration_ms), `${r.source} ${r.user}`]),
              ['WHEN (UTC)', 'RUN', 'WHAT', 'TARGET', 'VERDICT', 'TIME', 'BY'],
            ) + '\n',
          );
        return 0;
      }
      case 'show': {
        const run = requireRun(history, arg);
        if (values.json) process.stdout.write(JSON.stringify({ run: publicRun(run.run), hosts: run.hosts, drill: run.drill }, null, 2) + '\n');
        else process.stdout.write(markdown([run]));
        return 0;
      }
      case 'export': {
        if (!arg) throw new UsageError('export needs a run id or a chapter', 'drillbook history export');
        const chapter = /^(ch)?\d+$|^\d{2}-/.test(arg) ? findChapter(loadManifest(), arg) : undefined;
        const runs = chapter ? history.list({ chapter: chapter.slug, limit: 10_000 }).reverse().map((r) => history.get(r.id)!) : [requireRun(history, arg)];
        if (!runs.length) throw new UsageError(`no runs recorded for ${chapter?.slug ?? arg}`, arg);
        const format = (values.format as string | undefined) ?? 'md';
        if (format === 'json') process.stdout.write(JSON.stringify(runs.map((r) => ({ run: publicRun(r.run), hosts: r.hosts, drill: r.drill })), null, 2) + '\n');
        else if (format === 'md') process.stdout.write(markdown(runs, chapter ? `Change record: chapter ${chapter.frontmatter.chapter}, ${chapter.frontmatter.title}` : undefined));
        else throw new UsageError(`unknown format "${format}"`, '--format', 'md or json');
        return 0;
      }
      default:
        throw new UsageError(`unknown history action "${action}"`, 'drillbook history', 'list, show RUN, export RUN|CHAPTER');
    }
  } finally {
    history.close();
  }
}

function requireRun(history: History, id: string | undefined) {
  if (!id) throw new UsageError('give a run id (or its first characters)', 'drillbook history');
  const run = history.get(id);
  if (!run) throw new UsageError(`no run "${id}"`, id, 'list runs with `drillbook history`');
  return run;
}

function publicRun(r: RunRow) {
  return { ...r, targets: JSON.parse(r.targets), params: JSON.parse(r.params) };
}

/** A Markdown record of runs: who ran what, where, when, with which result and output. */
export function markdown(runs: { run: RunRow; hosts: HostRow[]; drill?: { figures: unknown } }[], title?: string): string {
  const out: string[] = [];
  if (title) out.push(`# ${title}`, '', `Exported ${new Date().toISOString()} by Drillbook.`, '');
  for (const { run, hosts, drill } of runs) {
    out.push(`## ${run.kind === 'drill' ? 'Drill' : 'Step'} \`${run.item}\`: ${run.title}`, '');
    out.push(
      `| | |`,
      `|---|---|`,
      `| Run | \`${run.id}\` |`,
      `| Target | ${run.inventory} (${run.profile}, fingerprint \`${run.fingerprint}\`) |`,
      `| Hosts | ${JSON.parse(run.targets).join(', ')} |`,
      `| Started | ${run.started_at} by ${run.user} (${run.source}) |`,
      `| Finished | ${run.finished_at ?? '-'}${run.duration_ms !== null ? ` (${fmtMs(run.duration_ms)})` : ''} |`,
      `| Result | **${run.status === 'done' ? run.verdict : run.status}**: ${(run.message ?? '').replace(/\|/g, '\\|')} |`,
      `| Content hash | \`${run.item_hash}\` |`,
      `| Values | ${Object.entries(JSON.parse(run.params) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(', ') || '(defaults and inventory)'} |`,
      '',
    );
    if (drill) out.push('Drill figures:', '', '```json', JSON.stringify(drill.figures, null, 2), '```', '');
    if (hosts.length) {
      out.push('| Host | Role | Verdict | Exit | Tries | Time | Message |', '|---|---|---|---|---|---|---|');
      for (const h of hosts) out.push(`| ${h.host} | ${h.role || '-'} | ${h.verdict} | ${h.exit_code ?? '-'} | ${h.attempts} | ${fmtMs(h.duration_ms)} | ${h.message.replace(/\|/g, '\\|')} |`);
      out.push('');
      for (const h of hosts.filter((x) => x.output)) out.push(`Output of ${h.host}${h.role ? ` (${h.role})` : ''}:`, '', '```text', h.output.trimEnd().replace(/```/g, "'''"), '```', '');
    }
  }
  return out.join('\n') + '\n';
}
