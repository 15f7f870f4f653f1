/**
 * The browser terminal, the small part: whether the runner has the
 * terminal on (and its capability), and `openTerminal()` for the lab panel
 * and the host chips. The xterm.js view, its CSS and the dock behaviour
 * live in drillbook-terminal-view.ts, imported only when a terminal is
 * first opened (or restored after a reload), never on a plain page load.
 */

export type TerminalTarget = { kind: 'host'; host: string } | { kind: 'local' };

export interface TerminalAccess {
  enabled: boolean;
  termToken?: string;
  termPath?: string;
}

/** sessionStorage key of the terminals this tab has open, for reattaching after a reload. */
export const TERMINALS_KEY = 'drillbook.terminals';

let access: Promise<TerminalAccess> | undefined;

/** Is the terminal on? Asks /api/session once per page (cookie + custom header, as the step client does). */
export function terminalAccess(): Promise<TerminalAccess> {
  access ??= fetch('/api/session', { headers: { 'X-Drillbook': '1' }, credentials: 'same-origin', cache: 'no-store' })
    .then((res) => (res.ok ? res.json() : {}))
    .then((s: { terminal?: boolean; termToken?: string; termPath?: string }) =>
      s.terminal === true && typeof s.termToken === 'string' ? { enabled: true, termToken: s.termToken, termPath: s.termPath ?? '/api/term' } : { enabled: false },
    )
    .catch(() => ({ enabled: false }));
  return access;
}

function loadView() {
  return import('./drillbook-terminal-view.ts');
}

/** Open a terminal in the dock; `opener` gets the focus back when it closes. */
export async function openTerminal(target: TerminalTarget, opener?: HTMLElement): Promise<void> {
  const a = await terminalAccess();
  if (!a.enabled) return;
  (await loadView()).terminalDock(a).open(target, opener);
}

function storedTerminals(): unknown[] {
  try {
    const v = JSON.parse(sessionStorage.getItem(TERMINALS_KEY) ?? '[]');
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

/** After a reload: reattach to the terminals this tab had open (loads the view only if there are any). */
export async function restoreTerminals(): Promise<void> {
  if (!storedTerminals().length) return;
  const a = await terminalAccess();
  if (!a.enabled) {
    sessionStorage.removeItem(TERMINALS_KEY);
    return;
  }
  (await loadView()).terminalDock(a).restore();
}

/** A label for buttons that open a terminal. */
export function terminalLabel(target: TerminalTarget): string {
  return target.kind === 'local' ? 'Open a terminal on this machine' : `Open a terminal on ${target.host}`;
}
