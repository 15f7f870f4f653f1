/** The runbook manifest: every chapter and step of the book, read through the one extractor. */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ErrorList, StepSyntaxError, UsageError } from './errors.ts';
import { extractChapterSource } from './extract.ts';
import { projectRoot } from './topology.ts';
import type { Chapter, Drill, Manifest, Step } from './types.ts';

export const CHAPTERS_DIR = path.join('src', 'content', 'chapters');

/**
 * Where chapters are read from: src/content/chapters, or DRILLBOOK_CHAPTERS_DIR
 * to run another set of chapters (a team's own runbooks, test fixtures)
 * through the same extractor and runner.
 */
export function chaptersDir(root: string): string {
  return process.env.DRILLBOOK_CHAPTERS_DIR ? path.resolve(process.env.DRILLBOOK_CHAPTERS_DIR) : path.join(root, CHAPTERS_DIR);
}

/** Read every chapter. Throws an ErrorList naming every malformed step. */
export function loadManifest(root = projectRoot()): Manifest {
  const dir = chaptersDir(root);
  const files = readdirSync(dir).filter((f) => f.endsWith('.mdx')).sort();
  const chapters: Chapter[] = [];
  const errors: StepSyntaxError[] = [];
  const numbers = new Map<number, string>();
  for (const f of files) {
    const rel = path.relative(root, path.join(dir, f));
    const { chapter, errors: errs } = extractChapterSource(readFileSync(path.join(dir, f), 'utf8'), rel, f.replace(/\.mdx$/, ''), root);
    errors.push(...errs);
    if (!chapter) continue;
    const n = chapter.frontmatter.chapter;
    if (numbers.has(n)) errors.push(new StepSyntaxError(`chapter ${n} is defined twice (also in ${numbers.get(n)})`, `${rel}:2`));
    numbers.set(n, rel);
    chapters.push(chapter);
  }
  if (errors.length) throw new ErrorList(errors);
  chapters.sort((a, b) => a.frontmatter.chapter - b.frontmatter.chapter);
  return { chapters };
}

export function allSteps(m: Manifest): Step[] {
  return m.chapters.flatMap((c) => c.steps);
}

export function findStep(m: Manifest, globalId: string): Step | undefined {
  return allSteps(m).find((s) => s.globalId === globalId);
}

/**
 * Resolve CLI selectors to steps, in book order: `ch03` or `3` or
 * `03-pacemaker` (a whole chapter), `03-pacemaker/vip-present` or
 * `3/vip-present` (one step).
 */
export function selectSteps(m: Manifest, selectors: string[]): Step[] {
  const out: Step[] = [];
  for (const sel of selectors) {
    const [chapSel, stepId] = sel.split('/', 2);
    const chapter = findChapter(m, chapSel);
    if (!chapter) {
      throw new UsageError(`no chapter matches "${chapSel}"`, sel, `chapters: ${m.chapters.map((c) => c.slug).join(', ')}`);
    }
    if (stepId === undefined) {
      out.push(...chapter.steps);
      continue;
    }
    const step = chapter.steps.find((s) => s.id === stepId);
    if (!step) {
      const ids = [...chapter.steps.map((s) => s.id), ...chapter.drills.map((d) => `${d.id} (drill)`)];
      throw new UsageError(`chapter ${chapter.slug} has no step "${stepId}"`, sel, ids.length ? `its steps: ${ids.join(', ')}` : 'it has no runnable steps yet');
    }
    out.push(step);
  }
  return out;
}

export function findChapter(m: Manifest, sel: string): Chapter | undefined {
  const num = /^(?:ch)?0*(\d+)$/i.exec(sel);
  if (num) return m.chapters.find((c) => c.frontmatter.chapter === Number(num[1]));
  return m.chapters.find((c) => c.slug === sel);
}

export function allDrills(m: Manifest): Drill[] {
  return m.chapters.flatMap((c) => c.drills);
}

export function findDrill(m: Manifest, globalId: string): Drill | undefined {
  return allDrills(m).find((d) => d.globalId === globalId);
}

/** What a chapter runs, in the order it is written: steps, and drills in place of their own steps. */
export type RunItem = { kind: 'step'; step: Step } | { kind: 'drill'; drill: Drill };

export function chapterItems(c: Chapter): RunItem[] {
  const items: (RunItem & { line: number })[] = [
    ...c.steps.filter((s) => !s.drill).map((step) => ({ kind: 'step' as const, step, line: step.line })),
    ...c.drills.map((drill) => ({ kind: 'drill' as const, drill, line: drill.line })),
  ];
  return items.sort((a, b) => a.line - b.line).map(({ line: _line, ...item }) => item as RunItem);
}

/**
 * Like selectSteps, but a whole chapter yields its drills as drills, and
 * `chapter/drill-id` names a drill.
 */
export function selectItems(m: Manifest, selectors: string[]): RunItem[] {
  const out: RunItem[] = [];
  for (const sel of selectors) {
    const [chapSel, id] = sel.split('/', 2);
    const chapter = findChapter(m, chapSel);
    const drill = chapter && id !== undefined ? chapter.drills.find((d) => d.id === id) : undefined;
    if (chapter && id === undefined) out.push(...chapterItems(chapter));
    else if (drill) out.push({ kind: 'drill', drill });
    else out.push(...selectSteps(m, [sel]).map((step) => ({ kind: 'step' as const, step })));
  }
  return out;
}

/**
 * The steps that bring a fresh lab to the state a chapter starts from: the
 * deploy and verify steps (not breaks, recovers or drills) of every chapter
 * it builds on, directly or not, in book order.
 */
export function prerequisiteSteps(m: Manifest, chapter: Chapter): Step[] {
  const need = new Set<number>();
  const visit = (c: Chapter) => {
    for (const n of c.frontmatter.buildsOn) {
      if (need.has(n)) continue;
      need.add(n);
      const dep = m.chapters.find((x) => x.frontmatter.chapter === n);
      if (dep) visit(dep);
    }
  };
  visit(chapter);
  return m.chapters
    .filter((c) => need.has(c.frontmatter.chapter))
    .flatMap((c) => c.steps.filter((s) => !s.drill && (s.kind === 'deploy' || s.kind === 'verify') && s.needs !== 'vm'));
}
