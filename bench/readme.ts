/**
 * The `## Benchmarks` section at the end of README.md, rendered from
 * bench/results/latest.json. Only that section is replaced (or appended):
 * nothing else in README.md is touched.
 *
 *   node --import tsx bench/readme.ts      rewrite the section from latest.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine } from './lib/machine.ts';
import type { CaseResult } from './lib/model.ts';
import { BENCH_DIR, readResults, type ResultsFile } from './lib/results.ts';
import { fmt, fmtRatio } from './lib/stats.ts';

const README = path.join(BENCH_DIR, '..', 'README.md');
const HEADING = '## Benchmarks';

const CASE_NAMES: Record<string, string> = {
  single: 'one step, one host (warm)',
  fanout: 'fan-out, 30 hosts',
  stream: '100 MiB streamed',
  site: 'site (whole book)',
  lab: 'local lab, 3 nodes',
};

function caseRows(c: CaseResult): string[] {
  const rows: string[] = [];
  const name = (id: string) => {
    const x = c.contenders.find((y) => y.id === id)!;
    return x.short ?? x.label;
  };
  for (const m of c.metrics) {
    const b = m.byContender[c.baseline];
    const others = c.contenders
      .filter((x) => x.id !== c.baseline && m.byContender[x.id])
      .map((x) => {
        const s = m.byContender[x.id];
        const r = m.ratio[x.id];
        return `${name(x.id)} ${fmt(s.median, m.unit)}${r ? ` (${fmtRatio(r.median)})` : ''}`;
      });
    if (!b && !others.length) continue;
    const range = b && c.rounds > 1 ? ` [${fmt(b.min, m.unit)}–${fmt(b.max, m.unit)}]` : '';
    rows.push(`| ${CASE_NAMES[c.id] ?? c.title} | ${m.label} | ${b ? `${name(c.baseline)} ${fmt(b.median, m.unit)}${range}` : '-'} | ${others.join('; ') || '-'} |`);
  }
  return rows;
}

export function renderMarkdown(r: ResultsFile): string {
  const cases = Object.values(r.cases);
  const machines = new Set(cases.map((c) => describeMachine(c.machine)));
  const lines = [
    HEADING,
    '',
    '`npm run bench` measures Drillbook side by side with plain `ssh`, `parallel-ssh` and Ansible ad-hoc commands in the same run, alternating over several rounds (`--rounds N`, default 5; `--only single,fanout,stream,site,lab`; the local lab case is opt-in: `--lab`). It creates its own hosts (OpenSSH `sshd` processes on loopback ports; its own lab `bench` on 10.95.0.0/24), removes them afterwards, installs `pssh` and `ansible` when run as root, and writes every figure to `bench/results/latest.json` (`--readme` rewrites this section from it).',
    '',
    `Latest figures, from ${[...machines].join('; ')}. That machine was shared with other work and busy (load averages below, on ${cases[0]?.machine.cores ?? '?'} cores), which is why there are no thresholds: figures are medians over rounds with [min–max], and "(n×)" is the other contender's figure divided by Drillbook's, computed round by round (median).`,
    '',
    '| Case | Metric | Drillbook: median [min–max] | Others: median (÷ Drillbook) |',
    '|---|---|---|---|',
    ...cases.flatMap(caseRows),
    '',
    'Who is who: one step is timed around the runner on a warm pooled connection; `ssh` is a fresh `ssh host cmd`, `ssh+ControlPersist` reuses an OpenSSH master, `ansible` is `ansible HOST -m shell` (Debian defaults). Fan-out: `drillbook run STEP` is a new process like `parallel-ssh -p 30` and `ansible all -f 30` (fresh connections); "its start-up alone" is the same command with `--dry-run`; "server, warm pool" is the step again on the server\'s connected pool. Memory is the process tree sampled from /proc (PSS splits pages shared by forks). Streaming: the server runs in its own process and a logged-in WebSocket client counts the 100 MiB; "runner alone" is the runner without the WebSocket, and "runner, 4 KiB kept" the same with 4 KiB of output retained per host instead of 256 KiB (the difference is the cost of retaining output). The lab figures come from the benchmark\'s own lab, with the image built in a private cache.',
    '',
    `Rounds, load average (start→end) and date per case: ${cases.map((c) => `${c.id} ${c.rounds}×${c.runsPerRound > 1 ? ` (${c.runsPerRound} runs each)` : ''}, ${c.load.start}→${c.load.end}, ${c.date.slice(0, 16).replace('T', ' ')} UTC`).join('; ')}.`,
    '',
  ];
  const site = r.cases.site?.details?.pageWeight as { page: string; eager: { js: { raw: number; gzip: number }; css: { raw: number; gzip: number }; html: { raw: number; gzip: number } }; lazy: { label: string; raw: number; gzip: number }[] } | undefined;
  if (site) {
    lines.push(
      `Page weight of the heaviest chapter page (\`${site.page}\`), loaded eagerly: JS ${fmt(site.eager.js.raw, 'bytes')} (${fmt(site.eager.js.gzip, 'bytes')} gzip), CSS ${fmt(site.eager.css.raw, 'bytes')} (${fmt(site.eager.css.gzip, 'bytes')} gzip), HTML ${fmt(site.eager.html.raw, 'bytes')} (${fmt(site.eager.html.gzip, 'bytes')} gzip)` +
        (site.lazy.length ? `; loaded only when used: ${site.lazy.map((l) => `${l.label} ${fmt(l.raw, 'bytes')} (${fmt(l.gzip, 'bytes')} gzip)`).join(', ')}.` : '.'),
      '',
    );
  }
  const notMeasured = cases.flatMap((c) => Object.entries(c.notMeasured).map(([id, why]) => `${c.contenders.find((x) => x.id === id)?.label ?? id} (${c.id}): ${why}`));
  if (notMeasured.length) lines.push(`Not measured: ${notMeasured.join('; ')}.`, '');
  return lines.join('\n');
}

/** Replace `## Benchmarks` (which must be the last section) or append it. */
export function updateReadme(r: ResultsFile, file = README): void {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.trim() === HEADING);
  let head: string;
  if (at >= 0) {
    const after = lines.slice(at + 1).findIndex((l) => /^## /.test(l));
    if (after >= 0) throw new Error(`README.md: "${HEADING}" is not the last section (it is followed by "${lines[at + 1 + after]}"); not touching it`);
    head = lines.slice(0, at).join('\n').replace(/\n*$/, '\n\n');
  } else {
    head = text.replace(/\n*$/, '\n\n');
  }
  writeFileSync(file, head + renderMarkdown(r));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = readResults();
  if (!r) {
    process.stderr.write('no bench/results/latest.json yet: run `npm run bench` first\n');
    process.exit(1);
  }
  updateReadme(r);
  process.stdout.write('README.md: ## Benchmarks rewritten from bench/results/latest.json\n');
}
