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
import { checkSlug, extractSteps, isStepElement } from './extract.ts';
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
    const { steps, errors } = extractSteps(tree, { file: rel, slug, frontmatter: fm.data, root });
    errors.unshift(...checkSlug(slug, fm.data, rel));
    if (errors.length) throw new ErrorList(errors);
    const byLine = new Map(steps.map((s) => [s.line, s]));
    visit(tree, (node) => {
      if (!isStepElement(node as { type: string; name?: string })) return;
      const el = node as Parameters<typeof isStepElement>[0] & { attributes: unknown[]; position?: { start: { line: number } } };
      const step = byLine.get(el.position?.start.line ?? -1);
      if (!step) return;
      el.attributes = [{ type: 'mdxJsxAttribute', name: 'step', value: JSON.stringify(step) }];
    });
  };
}
