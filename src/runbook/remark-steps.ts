/**
 * Astro adapter for the extractor. For each step component it replaces the
 * author's attributes with one `step` prop (the extracted Step as JSON), so
 * the page renders exactly what the server will run. Malformed steps fail
 * the build with file:line.
 */
import path from 'node:path';
import type { Root } from 'mdast';
import type { VFile } from 'vfile';
import { visit } from 'unist-util-visit';
import { ErrorList, StepSyntaxError } from './errors.ts';
import { checkSlug, extractDrillsAndMaps, extractSteps, isStepElement } from './extract.ts';
import { ChapterFrontmatterSchema } from './schema.ts';
import { projectRoot } from './topology.ts';

export interface RemarkStepsOptions {
  root?: string;
}

export default function remarkSteps(options: RemarkStepsOptions = {}) {
  const root = options.root ?? projectRoot();
  const chaptersDir = path.join(root, 'src', 'content', 'chapters') + path.sep;
  return (tree: Root, file: VFile) => {
    const abs = file.path ? path.resolve(file.path) : '';
    if (!abs.startsWith(chaptersDir)) {
      // Step components only have meaning inside chapters.
      visit(tree, (node) => {
        if (isStepElement(node as { type: string; name?: string })) {
          throw new StepSyntaxError('step components can only be used in src/content/chapters/', `${path.relative(root, abs)}:${node.position?.start.line ?? 0}`);
        }
      });
      return;
    }
    const rel = path.relative(root, abs);
    const slug = path.basename(abs).replace(/\.mdx$/, '');
    const raw = (file.data as { astro?: { frontmatter?: unknown } }).astro?.frontmatter ?? {};
    const fm = ChapterFrontmatterSchema.safeParse(raw);
    if (!fm.success) throw new StepSyntaxError(`frontmatter: ${fm.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, `${rel}:1`);
    const ctx = { file: rel, slug, frontmatter: fm.data, root };
    const { steps, errors } = extractSteps(tree, ctx);
    const dm = extractDrillsAndMaps(tree, steps, ctx);
    errors.unshift(...checkSlug(slug, fm.data, rel));
    errors.push(...dm.errors);
    if (errors.length) throw new ErrorList(errors);
    // Each component gets the extracted data as one JSON prop, by its line.
    const props = new Map<string, { name: string; value: unknown }>();
    for (const s of steps) props.set(`step:${s.line}`, { name: 'step', value: s });
    for (const d of dm.drills) {
      props.set(`drill:${d.line}`, { name: 'drill', value: d });
      props.set(`probe:${d.probe.line}`, { name: 'probe', value: { ...d.probe, drill: d.globalId } });
    }
    for (const m of dm.maps) props.set(`map:${m.line}`, { name: 'map', value: m });
    visit(tree, (node) => {
      const el = node as { type: string; name?: string | null; attributes?: unknown[]; position?: { start: { line: number } } };
      if (el.type !== 'mdxJsxFlowElement' && el.type !== 'mdxJsxTextElement') return;
      const kind = isStepElement(el) ? 'step' : el.name === 'Drill' ? 'drill' : el.name === 'Probe' ? 'probe' : el.name === 'ClusterMap' ? 'map' : undefined;
      const prop = kind && props.get(`${kind}:${el.position?.start.line ?? -1}`);
      if (!prop) return;
      el.attributes = [{ type: 'mdxJsxAttribute', name: prop.name, value: JSON.stringify(prop.value) }];
    });
  };
}
