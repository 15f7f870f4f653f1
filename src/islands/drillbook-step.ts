/**
 * <drillbook-step>: makes a documented step runnable when a runner is
 * connected. It only ever names its step id (and the reader's values); the
 * script it shows comes from the build and the server checks the hash.
 */
import { confirmByName } from './confirm.ts';
import { connectRunner, type RunnerConnection } from './runner-client.ts';
import { openTerminal, terminalAccess, terminalLabel } from './drillbook-terminal.ts';

interface PlanTarget {
  host: string;
  address: string;
  display: string;
  where?: string;
  values: Record<string, string>;
}
interface HostResult {
  host: string;
  verdict: string;
  exitCode?: number;
  durationMs: number;
  message: string;
  attempts: number;
}
interface HostView {
  host: string;
  chunks: { stream: 'stdout' | 'stderr'; text: string }[];
  size: number;
  result?: HostResult;
}

const KEEP = 200_000;
const OK = new Set(['passed', 'skipped']);

function fmtMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Reader-set values of the chapter's variables (empty inputs are left to the inventory/defaults). */
function pageParams(): Record<string, string> {
  const out: Record<string, string> = {};
  document.querySelectorAll<HTMLInputElement>('form.db-vars input[name]').forEach((i) => {
    if (i.value !== '') out[i.name] = i.value;
  });
  return out;
}

/** Wrap every {{name}} in the highlighted code in a span, even when highlighting split it across tokens. */
function markVariables(root: HTMLElement): HTMLElement[] {
  const nodes: Text[] = [];
  const starts: number[] = [];
  let full = '';
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode as Text;
    if (t.parentElement?.closest('.copy, button, .db-var')) continue;
    starts.push(full.length);
    nodes.push(t);
    full += t.data;
  }
  const locate = (pos: number) => {
    let i = starts.length - 1;
    while (i > 0 && starts[i] > pos) i--;
    return { node: nodes[i], offset: Math.min(pos - starts[i], nodes[i].data.length) };
  };
  const spans: HTMLElement[] = [];
  const matches = [...full.matchAll(/\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g)].reverse();
  for (const m of matches) {
    const a = locate(m.index!);
    const b = locate(m.index! + m[0].length - 1);
    const range = document.createRange();
    range.setStart(a.node, a.offset);
    range.setEnd(b.node, b.offset + 1);
    const span = document.createElement('span');
    span.className = 'db-var';
    span.dataset.var = m[1];
    span.dataset.placeholder = m[0];
    span.textContent = m[0];
    range.deleteContents();
    range.insertNode(span);
    spans.unshift(span);
  }
  return spans;
}

class DrillbookStep extends HTMLElement {
  private conn: RunnerConnection | null = null;
  private targets: PlanTarget[] = [];
  private needsConfirm = false;
  private inventoryName = '';
  private runReq?: string;
  private runId?: string;
  private hosts = new Map<string, HostView>();
  private frame = 0;
  private started = 0;
  private varSpans: HTMLElement[] = [];
  /** The runner has the browser terminal on: a host chip opens a terminal on its host. */
  private terminal = false;

  private $<T extends HTMLElement>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  private initialized = false;

  connectedCallback() {
    // Called again if the element is moved in the DOM: wire it up once.
    if (this.initialized) return;
    this.initialized = true;
    const code = this.$<HTMLElement>('.db-code');
    if (code) this.varSpans = markVariables(code);
    this.$<HTMLButtonElement>('.db-run').addEventListener('click', () => this.onRun());
    this.$<HTMLButtonElement>('.db-cancel').addEventListener('click', () => this.onCancel());
    this.$<HTMLElement>('.db-targets').addEventListener('click', (e) => {
      const b = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-terminal-host]');
      if (b) void openTerminal({ kind: 'host', host: b.dataset.terminalHost! }, b);
    });
    document.addEventListener('drillbook:params', () => this.plan());
    void this.attach();
  }

  private status(text: string, kind: 'idle' | 'busy' | 'ok' | 'bad' | 'off' = 'idle') {
    const s = this.$<HTMLElement>('.db-status');
    s.textContent = text;
    s.dataset.state = kind;
  }

  private async attach() {
    this.conn = await connectRunner();
    if (!this.conn) {
      this.status('Runner not connected: start it with npm start and open the link it prints', 'off');
      return;
    }
    this.conn.onClose((reason) => {
      this.conn = null;
      this.$<HTMLButtonElement>('.db-run').disabled = true;
      this.status(reason ? `Runner disconnected: ${reason}` : 'Runner disconnected: reload the page after restarting it', 'off');
    });
    if (!this.conn.inventory) {
      const p = this.conn.problem;
      this.status(p ? `No target: ${p.message}${p.hint ? ` (${p.hint})` : ''}` : 'No target inventory', 'off');
      return;
    }
    this.inventoryName = this.conn.inventory.name;
    this.plan();
    void terminalAccess().then((a) => {
      this.terminal = a.enabled;
      if (a.enabled) this.renderTargets();
    });
  }

  private plan() {
    if (!this.conn) return;
    const id = this.conn.send({ type: 'plan', step: this.dataset.step, hash: this.dataset.hash, params: pageParams() }, (msg) => {
      this.conn?.off(id);
      if (msg.type === 'error') {
        this.$<HTMLButtonElement>('.db-run').disabled = true;
        this.status(`${msg.error.message}${msg.error.hint ? ` (${msg.error.hint})` : ''}`, 'bad');
        return;
      }
      this.targets = msg.targets;
      this.needsConfirm = msg.needsConfirm;
      this.renderTargets();
      this.fillVariables();
      if (msg.skip) {
        this.$<HTMLButtonElement>('.db-run').disabled = true;
        this.status(`Not on this target: ${msg.skip}`, 'off');
        return;
      }
      if (!this.runReq) {
        this.$<HTMLButtonElement>('.db-run').disabled = false;
        this.status(`Ready: ${msg.inventory}`, 'idle');
      }
    });
  }

  private renderTargets() {
    const ul = this.$<HTMLUListElement>('.db-targets');
    ul.replaceChildren(
      ...this.targets.map((t) => {
        const li = document.createElement('li');
        li.className = 'db-chip';
        li.dataset.host = t.host;
        li.title = t.address;
        const r = this.hosts.get(t.host)?.result;
        li.dataset.verdict = r?.verdict ?? '';
        li.textContent = r ? `${t.host} · ${r.exitCode !== undefined ? `exit ${r.exitCode}` : r.verdict}` : t.host;
        if (this.terminal) {
          const b = document.createElement('button');
          b.type = 'button';
          b.className = 'db-chip-term';
          b.dataset.terminalHost = t.host;
          b.title = `${terminalLabel({ kind: 'host', host: t.host })} (${t.address})`;
          b.textContent = li.textContent;
          li.replaceChildren(b);
        }
        return li;
      }),
    );
  }

  /** Show the values the runner will use in place of {{name}}; per-host values stay as placeholders. */
  private fillVariables() {
    for (const span of this.varSpans) {
      const name = span.dataset.var!;
      const vals = [...new Set(this.targets.map((t) => t.values[name]).filter((v) => v !== undefined))];
      if (vals.length === 1 && this.targets.length > 0 && this.targets.every((t) => t.values[name] === vals[0])) {
        span.textContent = vals[0];
        span.title = `{{${name}}}`;
        span.dataset.filled = 'true';
      } else {
        span.textContent = span.dataset.placeholder!;
        span.title = vals.length ? this.targets.map((t) => `${t.host}: ${t.values[name]}`).join('\n') : `{{${name}}}`;
        span.dataset.filled = vals.length ? 'per-host' : 'false';
      }
    }
  }

  private async onRun() {
    if (!this.conn || this.runReq) return;
    let confirm: string | undefined;
    if (this.needsConfirm) {
      confirm = await this.askConfirm();
      if (confirm === undefined) return;
    }
    this.hosts.clear();
    this.targets.forEach((t) => this.hosts.set(t.host, { host: t.host, chunks: [], size: 0 }));
    this.started = performance.now();
    this.$<HTMLElement>('.db-result').hidden = false;
    this.$<HTMLElement>('.db-verdict').textContent = '';
    this.$<HTMLElement>('.db-verdict').dataset.verdict = '';
    this.$<HTMLButtonElement>('.db-run').disabled = true;
    this.$<HTMLButtonElement>('.db-cancel').hidden = false;
    this.status('Running…', 'busy');
    this.dataset.state = 'running';
    this.renderTargets();
    this.schedule();
    const id = this.conn.send({ type: 'run', step: this.dataset.step, hash: this.dataset.hash, params: pageParams(), ...(confirm ? { confirm } : {}) }, (msg) => this.onMessage(msg));
    this.runReq = id;
  }

  private onMessage(msg: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (msg.type === 'run-started') {
      this.runId = msg.runId;
      return;
    }
    if (msg.type === 'error') {
      this.finish();
      this.$<HTMLElement>('.db-verdict').dataset.verdict = 'refused';
      this.$<HTMLElement>('.db-verdict').textContent = `✘ ${msg.error.message}${msg.error.hint ? ` — ${msg.error.hint}` : ''}`;
      this.status('Not run', 'bad');
      return;
    }
    const ev = msg.event;
    if (ev.type === 'output') {
      const h = this.hosts.get(ev.host);
      if (!h) return;
      h.chunks.push({ stream: ev.stream, text: ev.text });
      h.size += ev.text.length;
      while (h.size > KEEP && h.chunks.length > 1) h.size -= h.chunks.shift()!.text.length;
      this.schedule();
    } else if (ev.type === 'attempt' && ev.attempt > 1) {
      this.status(`Attempt ${ev.attempt} of ${ev.of}…`, 'busy');
      for (const name of ev.hosts) {
        const h = this.hosts.get(name);
        if (h) h.chunks.push({ stream: 'stderr', text: `── attempt ${ev.attempt} of ${ev.of} ──\n` });
      }
      this.schedule();
    } else if (ev.type === 'host-done') {
      const h = this.hosts.get(ev.result.host);
      if (h) h.result = ev.result;
      this.renderTargets();
      this.schedule();
    } else if (ev.type === 'done') {
      const r = ev.result;
      this.finish();
      const v = this.$<HTMLElement>('.db-verdict');
      v.dataset.verdict = r.verdict;
      v.textContent = `${OK.has(r.verdict) ? '✔' : r.verdict === 'cancelled' || r.verdict === 'timeout' ? '■' : '✘'} ${r.verdict} · ${r.message} · ${fmtMs(r.durationMs)}`;
      this.status(OK.has(r.verdict) ? 'Done' : 'Failed', OK.has(r.verdict) ? 'ok' : 'bad');
      this.dataset.state = r.verdict;
      this.render();
      document.dispatchEvent(new Event('drillbook:ran'));
    }
  }

  private finish() {
    if (this.runReq) this.conn?.off(this.runReq);
    this.runReq = undefined;
    this.runId = undefined;
    this.$<HTMLButtonElement>('.db-run').disabled = !this.conn;
    this.$<HTMLButtonElement>('.db-cancel').hidden = true;
  }

  private onCancel() {
    if (!this.conn || !this.runId) return;
    this.status('Cancelling…', 'busy');
    const id = this.conn.send({ type: 'cancel', runId: this.runId }, () => this.conn?.off(id));
  }

  private async askConfirm(): Promise<string | undefined> {
    const inv = this.inventoryName;
    const ok = await confirmByName({
      title: this.dataset.kind === 'break' ? 'This step breaks something on purpose.' : 'This step asks for confirmation.',
      body: `It will run "${this.querySelector('.db-title')?.textContent}" on ${this.targets.map((t) => t.host).join(', ')} in ${inv}.`,
      name: inv,
      action: 'Run',
    });
    return ok ? inv : undefined;
  }

  private schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  /** One pane per distinct output: hosts whose output is identical share a pane. */
  private render() {
    this.frame = 0;
    const groups = new Map<string, HostView[]>();
    for (const h of this.hosts.values()) {
      const key = h.chunks.map((c) => `${c.stream[3]}${c.text}`).join('');
      groups.set(key, [...(groups.get(key) ?? []), h]);
    }
    const panes = this.$<HTMLElement>('.db-panes');
    const frag = document.createDocumentFragment();
    for (const members of groups.values()) {
      const pane = document.createElement('div');
      pane.className = 'db-pane';
      const head = document.createElement('div');
      head.className = 'db-pane-head';
      for (const h of members) {
        const chip = document.createElement('span');
        chip.className = 'db-chip';
        chip.dataset.host = h.host;
        chip.dataset.verdict = h.result?.verdict ?? 'running';
        chip.textContent = h.result ? `${h.host} · ${h.result.verdict}${h.result.exitCode !== undefined ? ` · exit ${h.result.exitCode}` : ''} · ${fmtMs(h.result.durationMs)}${h.result.attempts > 1 ? ` · ${h.result.attempts} tries` : ''}` : `${h.host} · running`;
        chip.title = h.result?.message ?? 'running';
        head.append(chip);
      }
      const pre = document.createElement('pre');
      pre.className = 'db-out';
      pre.tabIndex = 0;
      pre.setAttribute('aria-label', `Output of ${members.map((m) => m.host).join(', ')}`);
      const chunks = members[0].chunks;
      if (!chunks.length) pre.textContent = members.every((m) => m.result) ? '(no output)' : '';
      for (const c of chunks) {
        if (c.stream === 'stderr') {
          const s = document.createElement('span');
          s.className = 'db-stderr';
          s.textContent = c.text;
          pre.append(s);
        } else pre.append(c.text);
      }
      pane.append(head, pre);
      const failed = members.map((m) => m.result).filter((r) => r && !OK.has(r.verdict));
      if (failed.length) {
        const why = document.createElement('p');
        why.className = 'db-why';
        why.textContent = failed.map((r) => `${r!.host}: ${r!.message}`).join('\n');
        pane.append(why);
      }
      frag.append(pane);
    }
    const keepScroll = [...panes.querySelectorAll('pre')].map((p) => p.scrollHeight - p.scrollTop - p.clientHeight < 8);
    panes.replaceChildren(frag);
    panes.querySelectorAll('pre').forEach((p, i) => {
      if (keepScroll[i] ?? true) p.scrollTop = p.scrollHeight;
    });
    if (this.runReq) this.status(`Running… ${fmtMs(Math.round(performance.now() - this.started))}`, 'busy');
  }
}

if (!customElements.get('drillbook-step')) customElements.define('drillbook-step', DrillbookStep);

// Re-plan every step when the reader changes a value (debounced).
let timer: ReturnType<typeof setTimeout> | undefined;
document.addEventListener('input', (e) => {
  if (!(e.target as HTMLElement).closest?.('form.db-vars')) return;
  clearTimeout(timer);
  timer = setTimeout(() => document.dispatchEvent(new Event('drillbook:params')), 300);
});

// Show which cluster the page targets.
void connectRunner().then((conn) => {
  document.querySelectorAll<HTMLElement>('drillbook-target').forEach((el) => {
    if (!conn?.inventory) return;
    el.hidden = false;
    el.dataset.profile = conn.inventory.profile;
    el.querySelector('.db-target-name')!.textContent = `${conn.inventory.name} (${conn.inventory.profile}, ${conn.inventory.hosts.length} hosts)`;
  });
});
