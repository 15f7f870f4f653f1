/**
 * Case 4: the site. Build time of the whole book (`astro build`) and the
 * JS/CSS a chapter page ships: what its HTML loads eagerly (module scripts,
 * their static imports, modulepreloads, stylesheets, inline code), raw and
 * gzip; chunks only imported dynamically (the search UI, the terminal) are
 * reported separately.
 *
 * The build runs on a snapshot of the work tree in a temp dir, in a private
 * mount namespace where node_modules is bind-mounted and Astro's and Vite's
 * caches are fresh tmpfs: other people's builds, caches and dist/ are never
 * touched, and every round is a clean build (as in CI).
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { onCleanup } from '../lib/cleanup.ts';
import type { BenchContext } from '../lib/context.ts';
import { which, isRoot } from '../lib/deps.ts';
import { alternate, CaseRecorder, type CaseResult } from '../lib/model.ts';
import { measure, mustSucceed } from '../lib/procs.ts';
import { BENCH_DIR } from '../lib/results.ts';
import { fmt, textTable } from '../lib/stats.ts';

const ROOT = path.resolve(BENCH_DIR, '..');
const SKIP = new Set(['node_modules', 'dist', '.astro', '.git', 'test-results', '.state', '.scratch', '.vagrant', 'bench', 'test']);

interface Bytes {
  raw: number;
  gzip: number;
}
export interface PageWeight {
  page: string;
  html: Bytes;
  eager: { js: Bytes; css: Bytes; html: Bytes; inlineJs: Bytes; inlineCss: Bytes; files: { file: string; raw: number; gzip: number }[] };
  lazy: { label: string; entry: string; raw: number; gzip: number; files: string[] }[];
}

const gz = (b: Buffer | string) => gzipSync(b).length; // zlib default level (6), as most servers use

function sum(files: { raw: number; gzip: number }[]): Bytes {
  return { raw: files.reduce((a, f) => a + f.raw, 0), gzip: files.reduce((a, f) => a + f.gzip, 0) };
}

/**
 * Relative module specifiers of a built ES module: static imports, dynamic
 * import("…"), and the files Vite preloads with a dynamic import
 * (`__vitePreload(() => import("./x.js"), __vite__mapDeps([…]))`, paths
 * relative to the site root: CSS of a lazy chunk comes this way).
 */
function importsOf(code: string): { static: string[]; dynamic: string[]; preload: Map<string, string[]> } {
  const stat = new Set<string>();
  const dyn = new Set<string>();
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*)["'](\.{1,2}\/[^"']+)["']/g)) stat.add(m[1]);
  for (const m of code.matchAll(/\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g)) dyn.add(m[1]);
  const preload = new Map<string, string[]>();
  const table = /m\.f\s*\|\|\s*\(\s*m\.f\s*=\s*\[([^\]]*)\]/.exec(code)?.[1];
  if (table) {
    const files = [...table.matchAll(/["']([^"']+)["']/g)].map((x) => x[1]);
    for (const m of code.matchAll(/import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)\s*,\s*__vite__mapDeps\(\s*\[([\d,\s]*)\]/g)) {
      preload.set(m[1], m[2].split(',').filter((x) => x.trim()).map((i) => files[Number(i)]).filter(Boolean));
    }
  }
  return { static: [...stat], dynamic: [...dyn].filter((d) => !stat.has(d)), preload };
}

/** Weigh one built page: everything its HTML loads before any interaction, and what it can import later. */
export function weighPage(dist: string, pageFile: string): PageWeight {
  const html = readFileSync(pageFile, 'utf8');
  const local = (ref: string) => (ref.startsWith('/') && !ref.startsWith('//') ? path.join(dist, ref.split(/[?#]/)[0]) : undefined);
  const eagerJs = new Set<string>();
  const css = new Set<string>();
  const inlineJs: string[] = [];
  const inlineCss: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    const attrs = m[1];
    const src = /\bsrc=["']?([^"'\s>]+)/.exec(attrs)?.[1];
    const type = /\btype=["']?([^"'\s>]+)/.exec(attrs)?.[1];
    if (src) {
      const f = local(src);
      if (f) eagerJs.add(f);
    } else if (!type || type === 'module' || type === 'text/javascript') inlineJs.push(m[2]);
  }
  for (const m of html.matchAll(/<link\b([^>]*)>/g)) {
    const rel = /\brel=["']?([^"'\s>]+)/.exec(m[1])?.[1];
    const href = /\bhref=["']?([^"'\s>]+)/.exec(m[1])?.[1];
    const f = href ? local(href) : undefined;
    if (!f) continue;
    if (rel === 'stylesheet') css.add(f);
    if (rel === 'modulepreload') eagerJs.add(f);
  }
  for (const m of html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/g)) inlineCss.push(m[1]);

  // The static-import closure of the eager scripts (inline module scripts may import too).
  const dynamicEntries = new Map<string, string[]>(); // entry file -> files Vite preloads with it (site-root relative)
  const queue = [...eagerJs];
  for (const code of inlineJs) for (const s of importsOf(code).static) queue.push(path.join(dist, s.replace(/^\.\//, '/')));
  while (queue.length) {
    const f = queue.shift()!;
    eagerJs.add(f);
    if (!existsSync(f)) continue;
    const { static: st, dynamic, preload } = importsOf(readFileSync(f, 'utf8'));
    for (const s of st) {
      const t = path.resolve(path.dirname(f), s);
      if (!eagerJs.has(t)) queue.push(t);
    }
    for (const d of dynamic) dynamicEntries.set(path.resolve(path.dirname(f), d), (preload.get(d) ?? []).map((p) => path.join(dist, p)));
  }
  const weigh = (f: string) => {
    const b = existsSync(f) ? readFileSync(f) : Buffer.alloc(0);
    return { file: path.relative(dist, f), raw: b.length, gzip: gz(b) };
  };
  const jsFiles = [...eagerJs].map(weigh);
  const cssFiles = [...css].map(weigh);
  const inJs = { raw: Buffer.byteLength(inlineJs.join('')), gzip: gz(inlineJs.join('')) };
  const inCss = { raw: Buffer.byteLength(inlineCss.join('')), gzip: gz(inlineCss.join('')) };

  // Lazy chunks: each dynamic entry with its own static closure, minus what is already eager.
  const lazy: PageWeight['lazy'] = [];
  for (const [entry, preloads] of dynamicEntries) {
    if (eagerJs.has(entry)) continue;
    const seen = new Set<string>();
    const q = [entry, ...preloads.filter((p) => !css.has(p))];
    while (q.length) {
      const f = q.shift()!;
      if (seen.has(f) || eagerJs.has(f) || !existsSync(f)) continue;
      seen.add(f);
      if (f.endsWith('.js')) for (const s of importsOf(readFileSync(f, 'utf8')).static) q.push(path.resolve(path.dirname(f), s));
    }
    const files = [...seen].map(weigh);
    const name = path.basename(entry);
    const text = [...seen].map((f) => readFileSync(f, 'utf8').slice(0, 200_000)).join('\n');
    const label = /xterm|terminal/i.test(name + text.slice(0, 5000)) || /xterm/i.test(text) ? 'terminal (xterm.js)' : /pagefind/i.test(text) ? 'search UI (Pagefind)' : name.replace(/\.[^.]+\.js$/, '');
    lazy.push({ label, entry: path.relative(dist, entry), ...sum(files), files: files.map((f) => f.file) });
  }
  const htmlBytes = { raw: Buffer.byteLength(html), gzip: gz(html) };
  return {
    page: '/' + path.relative(dist, pageFile).replace(/index\.html$/, ''),
    html: htmlBytes,
    eager: { js: { raw: sum(jsFiles).raw + inJs.raw, gzip: sum(jsFiles).gzip + inJs.gzip }, css: { raw: sum(cssFiles).raw + inCss.raw, gzip: sum(cssFiles).gzip + inCss.gzip }, html: htmlBytes, inlineJs: inJs, inlineCss: inCss, files: [...jsFiles, ...cssFiles] },
    lazy,
  };
}

function snapshot(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drillbook-bench-site-'));
  for (const e of readdirSync(ROOT)) {
    if (SKIP.has(e)) continue;
    cpSync(path.join(ROOT, e), path.join(dir, e), { recursive: true, dereference: false, filter: (src) => !src.split(path.sep).some((p) => p === 'node_modules' || p === '.astro') });
  }
  return dir;
}

export async function siteCase(ctx: BenchContext): Promise<CaseResult> {
  const rec = new CaseRecorder('site', 'Case 4: the site (whole book)', [{ id: 'drillbook', label: 'astro build', short: 'astro build', drillbook: true }], [
    { id: 'build', label: 'build time', unit: 'ms', better: 'lower' },
    { id: 'rss', label: 'build peak RSS', unit: 'bytes', better: 'lower' },
    { id: 'pss', label: 'build peak PSS', unit: 'bytes', better: 'lower' },
  ]);
  const isolated = isRoot() && !!which('unshare');
  const dir = snapshot();
  const undo = onCleanup(`site snapshot ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  try {
    const out = path.join(dir, 'out');
    const astro = path.join('node_modules', 'astro', 'astro.js');
    const env = { ...process.env, ASTRO_TELEMETRY_DISABLED: '1', NO_COLOR: '1' };
    let cmd: string;
    let args: string[];
    if (isolated) {
      // Private mount namespace: the bind mount and the fresh caches vanish with the build process.
      const nm = path.join(dir, 'node_modules');
      const script = [
        'set -e',
        `mkdir -p "${nm}"`,
        `mount --bind "${path.join(ROOT, 'node_modules')}" "${nm}"`,
        `for c in .astro .vite; do [ -d "${nm}/$c" ] && mount -t tmpfs bench-cache "${nm}/$c"; done`,
        `cd "${dir}"`,
        `exec "${process.execPath}" ${astro} build --outDir "${out}"`,
      ].join('\n');
      cmd = 'unshare';
      args = ['--mount', '--propagation', 'private', 'sh', '-c', script];
    } else {
      // Not root: build in the work tree itself, output to the temp dir (Astro's caches are shared then).
      rec.notes.push('not root: built in the work tree with --outDir (no private mount namespace), so Astro\'s caches in node_modules/.astro were shared with other builds');
      cmd = process.execPath;
      args = [path.join(ROOT, astro), 'build', '--outDir', out];
    }
    let last: PageWeight[] = [];
    await alternate(
      ctx.rounds,
      rec.contenders,
      async (round) => {
        rmSync(out, { recursive: true, force: true });
        const m = mustSucceed('astro build', await measure(cmd, args, { env, cwd: isolated ? dir : ROOT, memory: true }));
        rec.record(round, 'drillbook', 'build', m.wallMs);
        rec.record(round, 'drillbook', 'rss', m.peakRss);
        rec.record(round, 'drillbook', 'pss', m.peakPss);
        const pages = /(\d+) page\(s\) built/.exec(m.stdout + m.stderr)?.[1];
        if (pages) rec.details.pages = Number(pages);
        const chapters = path.join(out, 'chapters');
        last = readdirSync(chapters)
          .filter((d) => statSync(path.join(chapters, d)).isDirectory() && existsSync(path.join(chapters, d, 'index.html')))
          .map((d) => weighPage(out, path.join(chapters, d, 'index.html')));
      },
      ctx.progress,
    );
    if (!last.length) throw new Error('the build produced no chapter pages');
    const total = (w: PageWeight) => w.eager.js.gzip + w.eager.css.gzip + w.eager.html.gzip;
    last.sort((a, b) => total(b) - total(a));
    const heaviest = last[0];
    const lightest = last.at(-1)!;
    rec.details = {
      ...rec.details,
      chapters: last.length,
      pageWeight: { ...heaviest, eager: { ...heaviest.eager, files: heaviest.eager.files } },
      lightest: { page: lightest.page, js: lightest.eager.js, css: lightest.eager.css, html: lightest.eager.html },
    };
    rec.notes.push(`a clean build each round (snapshot of the work tree, fresh Astro/Vite caches${isolated ? ' in a private mount namespace' : ''}); ${rec.details.pages ?? '?'} pages`);
    rec.notes.push('page weight: scripts with src, their static imports, modulepreloads and stylesheets linked from the HTML (print.css included: browsers fetch it too), plus inline <script>/<style>; gzip at zlib\'s default level. Chunks reached only through import() are listed as lazy; the Pagefind index files fetched by a search are not counted');
    rec.references.push(
      { what: 'Starlight page weight', figure: '<50 KB compressed first visit, ~10 KB later navigations', source: 'starlight docs environmental-impact.mdx' },
      { what: 'Astro build', figure: 'minimal site 2.2 s; Starlight\'s own docs 23.3 s before sidebar caching', source: 'starlight #1318, PR #2252' },
    );
  } finally {
    await undo();
  }
  return rec.result();
}

export function renderPageWeight(res: CaseResult): string {
  const w = res.details?.pageWeight as PageWeight | undefined;
  const light = res.details?.lightest as { page: string; js: Bytes; css: Bytes; html: Bytes } | undefined;
  if (!w) return '';
  const row = (what: string, b: Bytes) => [what, fmt(b.raw, 'bytes'), fmt(b.gzip, 'bytes')];
  const rows = [
    ['shipped by a chapter page', 'raw', 'gzip'],
    row(`JS, eager (heaviest chapter: ${w.page})`, w.eager.js),
    row('  of which inline <script>', w.eager.inlineJs),
    row('CSS, eager', w.eager.css),
    row('HTML', w.eager.html),
    ...(light ? [row(`JS, eager (lightest chapter: ${light.page})`, light.js), row('CSS, eager (lightest chapter)', light.css)] : []),
    ...w.lazy.map((l) => row(`lazy, on use: ${l.label}`, l)),
  ];
  if (!w.lazy.some((l) => /terminal/.test(l.label))) rows.push(['lazy: terminal chunk', 'not in this build', '']);
  return textTable(rows, ['l', 'r', 'r']) + `\neager files: ${w.eager.files.map((f) => `${f.file} ${fmt(f.gzip, 'bytes')}`).join(', ')}`;
}
