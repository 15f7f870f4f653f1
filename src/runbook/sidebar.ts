/** Sidebar groups by the book's parts, read from the chapter files' frontmatter. */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { splitFrontmatter } from './extract.ts';
import { PARTS, PART_NAMES } from './schema.ts';

export function chapterSidebar(root: string) {
  const dir = path.join(root, 'src', 'content', 'chapters');
  const chapters = readdirSync(dir)
    .filter((f) => f.endsWith('.mdx'))
    .map((f) => {
      const fm = parse(splitFrontmatter(readFileSync(path.join(dir, f), 'utf8')).yaml) ?? {};
      return { slug: f.replace(/\.mdx$/, ''), n: Number(fm.chapter), title: String(fm.title ?? f), part: String(fm.part) };
    })
    .sort((a, b) => a.n - b.n);
  return PART_NAMES.map((part) => ({
    label: PARTS[part].label,
    items: chapters.filter((c) => c.part === part).map((c) => ({ label: `${c.n}. ${c.title}`, link: `/chapters/${c.slug}/` })),
  }));
}
