import { defineCollection } from 'astro:content';
import { glob } from 'astro/loaders';
import { docsLoader } from '@astrojs/starlight/loaders';
import { docsSchema } from '@astrojs/starlight/schema';
import { ChapterFrontmatterSchema } from './runbook/schema.ts';

export const collections = {
  // Starlight's own pages (home, lab, about).
  docs: defineCollection({ loader: docsLoader(), schema: docsSchema() }),
  // The book: one MDX file per chapter, validated by the runbook schema.
  chapters: defineCollection({
    loader: glob({ pattern: '[0-9][0-9]-*.mdx', base: './src/content/chapters' }),
    schema: ChapterFrontmatterSchema,
  }),
};
