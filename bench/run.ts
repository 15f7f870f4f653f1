/**
 * `npm run bench`: Drillbook measured side by side with the tools operators
 * would use instead (plain ssh, parallel-ssh, Ansible), in the same
 * invocation, alternating over several rounds. Prints a table per case and
 * writes bench/results/latest.json (merged: a run with --only replaces only
 * the cases it ran). See issue 7.
 *
 *   npm run bench                       cases single, fanout, stream, site
 *   npm run bench -- --rounds 3         rounds per case (default 5)
 *   npm run bench -- --only fanout,site only these cases
 *   npm run bench -- --lab              also the local lab (slow: a cold image build downloads ~150 MB)
 *   npm run bench -- --readme           also write the figures into README.md (## Benchmarks)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanupAll, installSignalHandlers, interrupted } from './lib/cleanup.ts';
import type { BenchContext } from './lib/context.ts';
import { ensureTools, isRoot, type ToolName } from './lib/deps.ts';
import { describeMachine, load, machine, toolVersion } from './lib/machine.ts';
import { renderCase, type CaseResult } from './lib/model.ts';
import { updateReadme } from './readme.ts';
import { BENCH_DIR, readResults, RESULTS, type ResultsFile } from './lib/results.ts';
import { renderPageWeight } from './cases/site.ts';

interface CaseDef {
  id: string;
  what: string;
  tools: ToolName[];
  optIn?: boolean;
  run(ctx: BenchContext): Promise<CaseResult>;
  render?(res: CaseResult): string;
}

const CASES: CaseDef[] = [
  { id: 'single', what: 'one step on one host, warm', tools: ['sshd', 'ssh', 'ansible'], run: async (ctx) => (await import('./cases/single.ts')).singleCase(ctx) },
  { id: 'fanout', what: 'one command on 30 hosts', tools: ['sshd', 'ssh', 'pssh', 'ansible'], run: async (ctx) => (await import('./cases/fanout.ts')).fanoutCase(ctx) },
  { id: 'stream', what: '100 MiB of output to a WebSocket client', tools: ['sshd', 'ssh'], run: async (ctx) => (await import('./cases/stream.ts')).streamCase(ctx) },
  {
    id: 'site',
    what: 'site build and page weight',
    tools: ['unshare'],
    run: async (ctx) => (await import('./cases/site.ts')).siteCase(ctx),
    render: renderPageWeight,
  },
  { id: 'lab', what: 'local lab: image build and boot', tools: [], optIn: true, run: async (ctx) => (await import('./cases/lab.ts')).labCase(ctx) },
];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      only: { type: 'string' },
      lab: { type: 'boolean', default: false },
      readme: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0].replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '') + '\n');
    return 0;
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, not "${values.rounds}"`);
  const known = CASES.map((c) => c.id);
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const o of only ?? []) if (!known.includes(o)) throw new Error(`unknown case "${o}" (cases: ${known.join(', ')})`);
  const selected = CASES.filter((c) => (only ? only.includes(c.id) : !c.optIn || (c.id === 'lab' && values.lab)));

  installSignalHandlers();
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
  const m = machine();
  process.stdout.write(`Drillbook benchmarks, ${new Date().toISOString()}\nmachine: ${describeMachine(m)}; load average ${load()} at start\ncases: ${selected.map((c) => c.id).join(', ')}; ${rounds} round${rounds === 1 ? '' : 's'} each\n\n`);
  if (!isRoot() && selected.some((c) => c.tools.includes('sshd') || c.id === 'lab')) {
    log('not root: the loopback sshd hosts need a dedicated user (useradd) and the lab needs root; run as root (as CI does)');
  }
  const missing = ensureTools([...new Set(selected.flatMap((c) => c.tools))], log);
  for (const [, why] of missing) log(`missing: ${why}`);
  const tools = {
    ssh: toolVersion('ssh', ['-V']),
    'parallel-ssh': toolVersion('parallel-ssh', ['--version']),
    ansible: toolVersion('ansible', ['--version']),
    astro: toolVersion('node', [path.join(BENCH_DIR, '..', 'node_modules', 'astro', 'astro.js'), '--version']),
  };

  const ctx: BenchContext = {
    rounds,
    missing,
    log,
    progress: (s) => process.stderr.write(`  … ${s}\n`),
  };

  const prev = readResults();
  const out: ResultsFile = {
    machine: m,
    updated: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    tools: { ...prev?.tools, ...tools },
    cases: { ...prev?.cases },
  };
  let failed = 0;
  for (const c of selected) {
    log(`case ${c.id}: ${c.what}`);
    try {
      const res = await c.run(ctx);
      if (interrupted()) break;
      out.cases[c.id] = res;
      process.stdout.write(renderCase(res) + '\n' + (c.render ? c.render(res) + '\n' : '') + '\n');
      mkdirSync(path.dirname(RESULTS), { recursive: true });
      writeFileSync(RESULTS, JSON.stringify(out, null, 1) + '\n');
    } catch (e) {
      if (interrupted()) break;
      failed++;
      process.stdout.write(`${c.id}: FAILED: ${(e as Error).stack ?? e}\n\n`);
    }
  }
  if (interrupted()) return new Promise<number>(() => {}); // the signal handler cleans up and exits
  // Keep the case order stable in the file.
  out.cases = Object.fromEntries(CASES.filter((c) => out.cases[c.id]).map((c) => [c.id, out.cases[c.id]]));
  writeFileSync(RESULTS, JSON.stringify(out, null, 1) + '\n');
  process.stdout.write(`results: ${path.relative(process.cwd(), RESULTS)}\n`);
  if (values.readme) {
    updateReadme(out);
    process.stdout.write('README.md: ## Benchmarks updated\n');
  }
  return failed ? 1 : 0;
}

main()
  .then(async (code) => {
    await cleanupAll();
    process.exit(code);
  })
  .catch(async (e) => {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    await cleanupAll();
    process.exit(1);
  });
