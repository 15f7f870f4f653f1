/**
 * The browser terminal, the lazily loaded part: xterm.js (and its CSS) in a
 * dock at the bottom of the page, one tab per terminal, each with its own
 * WebSocket to `/api/term` (terminal capability as subprotocol).
 *
 * - Output is coalesced per animation frame into one `write`, and the bytes
 *   are acknowledged from xterm's write callback, so the server pauses the
 *   shell while the page is behind (flow control) instead of the page
 *   freezing or the server buffering.
 * - Resize follows the dock (addon-fit + ResizeObserver).
 * - Open terminal ids are kept in sessionStorage; a reload reattaches and
 *   the server replays the scrollback.
 * - Accessible: labelled tabs (arrow keys, Home/End, Delete closes), the
 *   dock is not modal, Shift+Esc leaves a terminal (Esc itself goes to the
 *   shell: vi needs it), focus returns to the opener when a terminal closes.
 */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
// As text, injected below: a CSS import here would be hoisted into every page by Astro.
import xtermCss from '@xterm/xterm/css/xterm.css?inline';
import { TERMINALS_KEY, type TerminalAccess, type TerminalTarget } from './drillbook-terminal.ts';

interface Stored {
  id: string;
  label: string;
  detail?: string;
  target: TerminalTarget;
}

interface ErrorBody {
  code: string;
  message: string;
  where?: string;
  hint?: string;
}

const encoder = new TextEncoder();
let counter = 0;

function stored(): Stored[] {
  try {
    const v = JSON.parse(sessionStorage.getItem(TERMINALS_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((s) => s && typeof s.id === 'string') : [];
  } catch {
    return [];
  }
}

function store(list: Stored[]) {
  if (list.length) sessionStorage.setItem(TERMINALS_KEY, JSON.stringify(list));
  else sessionStorage.removeItem(TERMINALS_KEY);
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(e, rest);
  if (dataset) Object.assign(e.dataset, dataset);
  e.append(...children);
  return e;
}

/**
 * Largest single write handed to xterm. It yields to the page only between
 * writes, and xterm 6 spends several microseconds per line feed (its
 * scrollbar re-arms a timer on each), so a frame's output goes in pieces.
 */
const MAX_WRITE = 4 * 1024;
const ACK_EVERY = 64 * 1024;
const DIM = (s: string) => `\r\n\x1b[2m[${s}]\x1b[0m\r\n`;

class TerminalTab {
  readonly key = ++counter;
  id?: string;
  readonly tab: HTMLButtonElement;
  readonly panel: HTMLElement;
  private readonly screen: HTMLDivElement;
  private readonly status: HTMLElement;
  private readonly detail: HTMLElement;
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private ws?: WebSocket;
  private ready = false;
  ended = false;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Bytes xterm has processed but not yet acknowledged to the server. */
  private written = 0;
  private frame = 0;
  private fitFrame = 0;
  private readonly resizer: ResizeObserver;

  constructor(
    private readonly dock: DrillbookTerminalDock,
    readonly target: TerminalTarget,
    public label: string,
    readonly opener?: HTMLElement,
  ) {
    const tabId = `db-term-tab-${this.key}`;
    const panelId = `db-term-panel-${this.key}`;
    this.tab = el('button', { type: 'button', id: tabId, className: 'db-term-tab', tabIndex: -1 }, el('span', { className: 'db-term-tab-label', textContent: label }));
    this.tab.setAttribute('role', 'tab');
    this.tab.setAttribute('aria-controls', panelId);
    this.tab.setAttribute('aria-selected', 'false');
    this.tab.dataset.state = 'connecting';
    this.detail = el('span', { className: 'db-term-detail' });
    this.status = el('span', { className: 'db-term-status', textContent: 'connecting…' });
    this.status.setAttribute('role', 'status');
    const close = el('button', { type: 'button', className: 'db-term-close', textContent: 'Close' });
    close.setAttribute('aria-label', `Close the terminal on ${label} (ends its shell)`);
    close.addEventListener('click', () => this.dock.close(this));
    this.screen = el('div', { className: 'db-term-screen' });
    this.panel = el('section', { id: panelId, className: 'db-term-panel', hidden: true }, el('div', { className: 'db-term-head' }, this.detail, this.status, close), this.screen);
    this.panel.setAttribute('role', 'tabpanel');
    this.panel.setAttribute('aria-labelledby', tabId);

    this.term = new Terminal({
      cursorBlink: true,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace',
      fontSize: 13,
      scrollback: 5000,
      theme: { background: '#0d1117', foreground: '#e6edf3', cursor: '#e6edf3', selectionBackground: '#264f78' },
    });
    this.term.loadAddon(this.fit);
    this.term.attachCustomKeyEventHandler((e) => {
      if (e.key === 'Escape' && e.shiftKey) {
        if (e.type === 'keydown') this.dock.leave(this);
        return false;
      }
      return true;
    });
    this.term.onData((d) => this.send(encoder.encode(d)));
    this.term.onBinary((d) => this.send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
    this.term.onResize(({ cols, rows }) => this.control({ type: 'resize', cols, rows }));
    this.resizer = new ResizeObserver(() => this.scheduleFit());
  }

  /** Put the terminal on the page (its panel must be in the document). */
  mount() {
    this.term.open(this.screen);
    this.term.textarea?.setAttribute('aria-label', `Terminal on ${this.label}. Shift+Escape leaves it.`);
    this.resizer.observe(this.screen);
    this.fitNow();
  }

  private scheduleFit() {
    if (!this.fitFrame) this.fitFrame = requestAnimationFrame(() => this.fitNow());
  }

  private fitNow() {
    this.fitFrame = 0;
    // A hidden panel has no size: keep the last one.
    if (this.panel.hidden || !this.screen.clientWidth || !this.screen.clientHeight) return;
    if (this.fit.proposeDimensions()) this.fit.fit();
  }

  connect(access: TerminalAccess, start: { type: 'open'; target: TerminalTarget } | { type: 'attach'; id: string }) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}${access.termPath}`, ['drillbook.terminal.v1', `drillbook.term.${access.termToken}`]);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.addEventListener('open', () => {
      this.fitNow();
      ws.send(JSON.stringify({ ...start, cols: this.term.cols, rows: this.term.rows }));
    });
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') return this.onControl(JSON.parse(ev.data));
      const chunk = new Uint8Array(ev.data as ArrayBuffer);
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.ready = false;
      if (!this.ended) {
        this.setState('disconnected', 'disconnected: reload the page to reattach');
        this.term.write(DIM('disconnected from the runner; reload the page to reattach'));
      }
    });
  }

  /**
   * What arrived during a frame goes to xterm together, acknowledged once
   * xterm has processed it. xterm parses each write in one go and yields
   * only between writes, so a large frame is handed over in pieces.
   */
  private flush() {
    this.frame = 0;
    if (!this.pendingBytes) return;
    const n = this.pendingBytes;
    let data: Uint8Array;
    if (this.pending.length === 1) data = this.pending[0];
    else {
      data = new Uint8Array(n);
      let at = 0;
      for (const c of this.pending) {
        data.set(c, at);
        at += c.length;
      }
    }
    this.pending = [];
    this.pendingBytes = 0;
    for (let at = 0; at < n; at += MAX_WRITE) {
      const end = Math.min(n, at + MAX_WRITE);
      this.term.write(data.subarray(at, end), () => this.ack(end - at, end === n));
    }
  }

  /** Acknowledge written bytes: every 64 KiB, and at the end of each frame's output. */
  private ack(bytes: number, last: boolean) {
    this.written += bytes;
    if (!last && this.written < ACK_EVERY) return;
    this.control({ type: 'ack', bytes: this.written });
    this.written = 0;
  }

  private onControl(m: { type: string; id?: string; label?: string; detail?: string; opened?: boolean; reason?: string; error?: ErrorBody }) {
    if (m.type === 'ready') {
      this.id = m.id;
      this.ready = true;
      if (m.label && m.label !== this.label) this.label = m.label;
      this.detail.textContent = m.detail ?? '';
      this.setState('open', m.opened ? '' : 'reattached');
      this.dock.remember(this);
      // The dock may have changed size while the shell started.
      this.control({ type: 'resize', cols: this.term.cols, rows: this.term.rows });
    } else if (m.type === 'ended') {
      this.finish(m.reason ?? 'the shell ended');
    } else if (m.type === 'replaced') {
      this.ended = true;
      this.dock.forget(this);
      this.setState('ended', 'opened in another page');
      this.term.write(DIM('this terminal was opened in another page'));
    } else if (m.type === 'error' && m.error) {
      this.finish(`${m.error.message}${m.error.hint ? ` (${m.error.hint})` : ''}`);
    }
  }

  private finish(reason: string) {
    this.ended = true;
    this.ready = false;
    this.dock.forget(this);
    this.setState('ended', reason);
    this.term.write(DIM(reason));
  }

  private setState(state: string, text: string) {
    this.tab.dataset.state = state;
    this.status.textContent = text;
    this.tab.title = text ? `${this.label}: ${text}` : this.label;
  }

  private control(m: Record<string, unknown>) {
    if (this.ready && this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private send(bytes: Uint8Array) {
    if (this.ready && !this.ended && this.ws?.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  show(visible: boolean) {
    this.panel.hidden = !visible;
    this.tab.setAttribute('aria-selected', String(visible));
    this.tab.tabIndex = visible ? 0 : -1;
    if (visible) this.scheduleFit();
  }

  /** Close the tab: ends the shell on the server. */
  dispose() {
    if (this.ready && !this.ended) this.control({ type: 'close' });
    this.ended = true;
    this.ws?.close();
    this.ws = undefined;
    cancelAnimationFrame(this.frame);
    cancelAnimationFrame(this.fitFrame);
    this.resizer.disconnect();
    this.term.dispose();
    this.tab.remove();
    this.panel.remove();
  }
}

/** Focus the button that opened a terminal, or the one that replaced it when its island re-rendered. */
function returnFocus(opener: HTMLElement | undefined) {
  if (!opener) return;
  if (opener.isConnected) return opener.focus();
  const { terminal, host, terminalHost } = opener.dataset;
  const same = [...document.querySelectorAll<HTMLElement>('button[data-terminal], button[data-terminal-host]')].find(
    (b) => b.dataset.terminal === terminal && b.dataset.host === host && b.dataset.terminalHost === terminalHost && b.closest(opener.dataset.terminalHost ? 'drillbook-step' : 'drillbook-lab'),
  );
  same?.focus();
}

class DrillbookTerminalDock extends HTMLElement {
  access!: TerminalAccess;
  private tabs: TerminalTab[] = [];
  private tablist!: HTMLElement;
  private panels!: HTMLElement;
  private toggle!: HTMLButtonElement;
  private built = false;
  private sizeWatch?: ResizeObserver;

  private build() {
    if (this.built) return;
    this.built = true;
    this.classList.add('db-term-dock', 'not-content');
    this.setAttribute('role', 'region');
    this.setAttribute('aria-label', 'Terminals');
    const title = el('span', { className: 'db-term-title', id: 'db-term-title', textContent: 'Terminals' });
    this.tablist = el('div', { className: 'db-term-tabs' });
    this.tablist.setAttribute('role', 'tablist');
    this.tablist.setAttribute('aria-labelledby', 'db-term-title');
    this.toggle = el('button', { type: 'button', className: 'db-term-toggle', textContent: 'Hide' });
    this.toggle.setAttribute('aria-expanded', 'true');
    this.toggle.setAttribute('aria-controls', 'db-term-panels');
    this.toggle.addEventListener('click', () => this.expand(this.toggle.getAttribute('aria-expanded') !== 'true'));
    const hint = el('span', { className: 'db-term-hint', textContent: 'Shift+Esc leaves the terminal' });
    this.panels = el('div', { className: 'db-term-panels', id: 'db-term-panels' });
    this.replaceChildren(el('div', { className: 'db-term-bar' }, title, this.tablist, hint, this.toggle), this.panels);
    this.tablist.addEventListener('click', (e) => {
      const t = this.tabs.find((x) => x.tab.contains(e.target as Node));
      if (t) this.select(t, false);
    });
    this.tablist.addEventListener('keydown', (e) => this.onTabKey(e));
    // Keep the page's last lines reachable above the dock.
    this.sizeWatch = new ResizeObserver(() => document.documentElement.style.setProperty('--db-term-dock-height', `${this.offsetHeight}px`));
    this.sizeWatch.observe(this);
  }

  private onTabKey(e: KeyboardEvent) {
    const i = this.tabs.findIndex((t) => t.tab === document.activeElement);
    if (i < 0) return;
    const go = (j: number) => {
      e.preventDefault();
      const t = this.tabs[(j + this.tabs.length) % this.tabs.length];
      this.select(t, false);
      t.tab.focus();
    };
    if (e.key === 'ArrowRight') go(i + 1);
    else if (e.key === 'ArrowLeft') go(i - 1);
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(this.tabs.length - 1);
    else if (e.key === 'Delete') {
      e.preventDefault();
      this.close(this.tabs[i]);
    } else if (e.key === 'Enter' || e.key === ' ' || e.key === 'ArrowDown') {
      e.preventDefault();
      this.select(this.tabs[i], true);
    }
  }

  private showDock() {
    this.build();
    this.hidden = false;
    document.documentElement.classList.add('db-term-open');
  }

  private expand(open: boolean) {
    this.toggle.setAttribute('aria-expanded', String(open));
    this.toggle.textContent = open ? 'Hide' : 'Show';
    this.panels.hidden = !open;
    if (open) this.tabs.find((t) => !t.panel.hidden)?.show(true);
  }

  private add(target: TerminalTarget, label: string, opener?: HTMLElement): TerminalTab {
    this.showDock();
    const t = new TerminalTab(this, target, label, opener);
    this.tabs.push(t);
    this.tablist.append(t.tab);
    this.panels.append(t.panel);
    this.expand(true);
    this.select(t, false);
    t.mount();
    return t;
  }

  open(target: TerminalTarget, opener?: HTMLElement) {
    const t = this.add(target, target.kind === 'local' ? 'this machine' : target.host, opener);
    t.connect(this.access, { type: 'open', target });
    t.term.focus();
  }

  /** Reattach to the terminals this browser tab had open before a reload. */
  restore() {
    const have = new Set(this.tabs.map((t) => t.id));
    for (const s of stored()) {
      if (have.has(s.id)) continue;
      const t = this.add(s.target, s.label);
      t.id = s.id;
      t.connect(this.access, { type: 'attach', id: s.id });
    }
  }

  select(t: TerminalTab, focusTerminal: boolean) {
    for (const x of this.tabs) x.show(x === t);
    if (focusTerminal) t.term.focus();
  }

  /** Shift+Esc: leave the terminal for its tab (the dock never traps the keyboard). */
  leave(t: TerminalTab) {
    t.tab.focus();
  }

  close(t: TerminalTab) {
    const i = this.tabs.indexOf(t);
    if (i < 0) return;
    const hadFocus = this.contains(document.activeElement);
    this.tabs.splice(i, 1);
    this.forget(t);
    t.dispose();
    const next = this.tabs[Math.min(i, this.tabs.length - 1)];
    if (next) {
      this.select(next, false);
      if (hadFocus) next.tab.focus();
      return;
    }
    this.hidden = true;
    document.documentElement.classList.remove('db-term-open');
    returnFocus(t.opener);
  }

  remember(t: TerminalTab) {
    if (!t.id) return;
    const list = stored().filter((s) => s.id !== t.id);
    list.push({ id: t.id, label: t.label, target: t.target });
    store(list);
  }

  forget(t: TerminalTab) {
    if (t.id) store(stored().filter((s) => s.id !== t.id));
  }

  /** The selected terminal's buffer as text, one line per row, or only its last `last` rows (for tests and copying). */
  bufferText(last?: number): string {
    const t = this.tabs.find((x) => !x.panel.hidden);
    if (!t) return '';
    const b = t.term.buffer.active;
    const lines: string[] = [];
    for (let i = last ? Math.max(0, b.length - last) : 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n').replace(/\n+$/, '');
  }

  get count() {
    return this.tabs.length;
  }
}

if (!document.getElementById('db-xterm-css')) {
  const style = document.createElement('style');
  style.id = 'db-xterm-css';
  style.textContent = xtermCss;
  document.head.append(style);
}
if (!customElements.get('drillbook-terminal-dock')) customElements.define('drillbook-terminal-dock', DrillbookTerminalDock);

/** The page's dock (the one TerminalDock.astro renders, or a new one at the end of the body). */
export function terminalDock(access: TerminalAccess): DrillbookTerminalDock {
  let dock = document.querySelector<DrillbookTerminalDock>('drillbook-terminal-dock');
  if (!dock) {
    dock = document.createElement('drillbook-terminal-dock') as DrillbookTerminalDock;
    dock.hidden = true;
  }
  // Out of the content column: Starlight isolates it, which would put the sidebars over the dock.
  if (dock.parentElement !== document.body) document.body.append(dock);
  dock.access = access;
  return dock;
}
