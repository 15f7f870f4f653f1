/**
 * Progress on the current target, from the run history: the last verdict of
 * each step and drill on this page, a done/total count per chapter in the
 * sidebar, and a "continue with" link to the first step not yet passed.
 * Survives server restarts (the history is in SQLite).
 */
import { connectRunner } from './runner-client.ts';

interface Item {
  verdict: string;
  at: string;
  runId: string;
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

async function refresh(): Promise<void> {
  const conn = await connectRunner();
  if (!conn?.inventory) return;
  const id = conn.send({ type: 'progress' }, (msg) => {
    conn.off(id);
    if (msg.type !== 'progress') return;
    const items = msg.items as Record<string, Item>;
    // Steps and drills on this page.
    let next: HTMLElement | undefined;
    document.querySelectorAll<HTMLElement>('drillbook-step[data-step], drillbook-drill[data-drill]').forEach((el) => {
      const gid = el.dataset.step ?? el.dataset.drill!;
      const it = items[gid];
      let badge = el.querySelector<HTMLElement>(':scope .db-last');
      if (it) {
        if (!badge) {
          badge = document.createElement('span');
          badge.className = 'db-last';
          (el.querySelector('.db-head, header') ?? el).append(badge);
        }
        badge.dataset.verdict = it.verdict;
        badge.textContent = `last run: ${it.verdict}, ${ago(it.at)}`;
        badge.title = `run ${it.runId} on ${msg.inventory}`;
      }
      const inDrill = el.matches('drillbook-step') && el.closest('drillbook-drill');
      if (!next && !inDrill && (!it || it.verdict !== 'passed')) next = el;
    });
    const resume = document.querySelector<HTMLElement>('.db-resume');
    if (resume) {
      const hasRuns = Object.keys(items).some((k) => k.startsWith(`${resume.dataset.chapter}/`));
      if (next && hasRuns) {
        const title = next.querySelector('.db-title, .db-drill-title')?.textContent ?? 'the next step';
        const a = resume.querySelector('a')!;
        a.textContent = title;
        a.href = `#${next.id || (next.id = `run-${(next.dataset.step ?? next.dataset.drill)!.replace(/[^a-z0-9-]/g, '-')}`)}`;
        resume.hidden = false;
      } else resume.hidden = true;
    }
    // Sidebar: done / total per chapter, for chapters whose totals the page knows.
    const totals = JSON.parse(document.querySelector('#db-chapter-totals')?.textContent ?? '{}') as Record<string, string[]>;
    document.querySelectorAll<HTMLAnchorElement>('nav a[href^="/chapters/"]').forEach((a) => {
      const slug = a.getAttribute('href')!.split('/')[2];
      const ids = totals[slug];
      if (!ids?.length) return;
      const done = ids.filter((gid) => items[gid]?.verdict === 'passed').length;
      if (!done && !ids.some((gid) => items[gid])) return;
      let tag = a.querySelector<HTMLElement>('.db-progress');
      if (!tag) {
        tag = document.createElement('span');
        tag.className = 'db-progress';
        a.append(tag);
      }
      tag.textContent = ` ${done}/${ids.length}`;
      tag.dataset.complete = String(done === ids.length);
      tag.title = `${done} of ${ids.length} runnable items passed on ${msg.inventory}`;
    });
  });
}

void refresh();
document.addEventListener('drillbook:ran', () => void refresh());
setInterval(() => document.visibilityState === 'visible' && void refresh(), 15_000);
