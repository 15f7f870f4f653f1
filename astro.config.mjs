// @ts-check
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'astro/config';
import starlight from '@astrojs/starlight';
import remarkSteps from './src/runbook/remark-steps.ts';
import { chapterSidebar } from './src/runbook/sidebar.ts';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  // The runner is never mounted into the dev server: `astro dev` serves
  // pages only; steps run through `drillbook serve` (its own origin).
  server: { host: '127.0.0.1' },
  vite: { server: { allowedHosts: ['localhost', '127.0.0.1'] } },
  markdown: { remarkPlugins: [[remarkSteps, { root }]] },
  integrations: [
    starlight({
      title: 'Drillbook',
      description: 'Highly available OpenStack, chapter by chapter: deploy, verify, break and recover every component on a real cluster.',
      favicon: '/favicon.svg',
      customCss: ['./src/styles/drillbook.css'],
      sidebar: [
        { label: 'Start here', items: [{ label: 'About Drillbook', link: '/' }, { label: 'The lab', link: '/lab/' }] },
        ...chapterSidebar(root),
      ],
      expressiveCode: { themes: ['github-dark', 'github-light'] },
      // Chapters live in their own collection: give them Starlight's asides and heading anchors too.
      markdown: { processedDirs: ['./src/content/chapters'] },
    }),
  ],
});
