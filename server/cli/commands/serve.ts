/** `drillbook serve`: build the site if needed, then serve it with the runner. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DrillbookError, UsageError } from '../../../src/runbook/errors.ts';
import { projectRoot } from '../../../src/runbook/topology.ts';
import { parseDuration } from '../../../src/runbook/extract.ts';
import { startServer } from '../../main.ts';
import { formatDuration } from '../../terminal/manager.ts';
import { stateDir } from '../../state.ts';
import { c } from '../render.ts';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

export function siteIsStale(root: string): boolean {
  const marker = path.join(root, 'dist', 'index.html');
  if (!existsSync(marker)) return true;
  const built = statSync(marker).mtimeMs;
  const sources = [path.join(root, 'src'), path.join(root, 'public')].filter(existsSync);
  const inputs = Math.max(...sources.map(newestMtime), statSync(path.join(root, 'astro.config.mjs')).mtimeMs);
  return inputs > built;
}

export function buildSite(root: string): void {
  process.stderr.write(c.dim('building the site (astro build)…\n'));
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'astro', 'astro.js'), 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ASTRO_TELEMETRY_DISABLED: '1' } });
  if (r.status !== 0) throw new DrillbookError('build', 'the site did not build', { hint: 'read the error above; malformed steps name their file and line' });
}

export function openBrowser(url: string): void {
  if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return;
  try {
    spawn('xdg-open', [url], { stdio: 'ignore', detached: true }).on('error', () => {}).unref();
  } catch {
    /* no opener: the URL is printed anyway */
  }
}

export async function serveCommand(values: Record<string, unknown>, signal: AbortSignal): Promise<number> {
  const root = projectRoot();
  const portText = (values.port as string | undefined) ?? process.env.DRILLBOOK_PORT ?? '4321';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new UsageError(`bad port "${portText}"`, '--port');
  if (values.build && siteIsStale(root)) buildSite(root);
  if (!existsSync(path.join(root, 'dist', 'index.html'))) {
    throw new DrillbookError('build', 'the site is not built', { hint: 'run `npm run build` or start with `drillbook serve --build`' });
  }
  const idleText = values['terminal-idle'] as string | undefined;
  const terminalIdleMs = idleText === undefined ? undefined : parseDuration(idleText);
  if (idleText !== undefined && (!terminalIdleMs || terminalIdleMs < 1000)) throw new UsageError(`bad idle time "${idleText}"`, '--terminal-idle', 'write a duration such as 30s, 15m or 1h');
  if (idleText !== undefined && !values.terminal) throw new UsageError('--terminal-idle needs --terminal', '--terminal-idle', 'add --terminal to enable the browser terminal');
  const sessionIdleText = values['session-idle'] as string | undefined;
  const sessionIdleMs = sessionIdleText === undefined ? undefined : parseDuration(sessionIdleText);
  if (sessionIdleText !== undefined && (!sessionIdleMs || sessionIdleMs < 60_000)) throw new UsageError(`bad idle time "${sessionIdleText}"`, '--session-idle', 'write a duration of at least a minute, such as 30m, 1h or 12h');
  let server;
  try {
    server = await startServer({ terminal: !!values.terminal, terminalIdleMs, sessionIdleMs, port: Number(portText), inventory: values.inventory as string | undefined, lab: values.lab as string | undefined, allowBreaks: !!values['allow-breaks'] });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`port ${portText} is in use`, '--port', 'pick another with --port N, or --port 0 for any free port');
    throw e;
  }
  let target: string;
  try {
    const inv = server.session.inventory();
    target = `${inv.name} (${inv.profile}, ${Object.keys(inv.hosts).length} hosts)`;
  } catch (e) {
    target = c.yellow(e instanceof DrillbookError ? `${e.message}${e.hint ? ` — ${e.hint}` : ''}` : String(e));
  }
  process.stdout.write(`Drillbook is serving the book and its runner.\n\n  ${c.bold(server.url)}\n\n  target: ${target}\n${server.terminals ? `  terminal: ${c.yellow('on')}: a full shell on the hosts and on this machine, from the logged-in browser; idle terminals end after ${formatDuration(server.terminals.idleMs)}\n` : ''}  the link logs one browser in; \`npx drillbook open\` prints a fresh one (also in ${server.tokenFile}, mode 0600)\n  Ctrl-C stops the server.\n`);
  if (!values['no-open']) openBrowser(server.url);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await server.close();
  return 0;
}

/** `drillbook open`: the running server's current (unused) login link. */
export function openCommand(values: Record<string, unknown>): number {
  const file = path.join(stateDir(), 'server.json');
  if (!existsSync(file)) throw new DrillbookError('serve', 'no Drillbook server has run here', { hint: 'start one with `npm start` or `npx drillbook serve`' });
  const info = JSON.parse(readFileSync(file, 'utf8')) as { url: string; pid: number };
  try {
    process.kill(info.pid, 0);
  } catch {
    throw new DrillbookError('serve', `the server that wrote ${file} (pid ${info.pid}) is not running`, { hint: 'start it with `npm start` or `npx drillbook serve`' });
  }
  process.stdout.write(`${info.url}\n`);
  if (!values['no-open']) openBrowser(info.url);
  return 0;
}
