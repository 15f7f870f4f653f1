/**
 * <drillbook-lab>: shows the lab the runner targets and offers its fixed
 * actions (up, down, start/stop/crash/reset a node). Polls at a modest
 * rate while the page is visible.
 */
import { confirmByName } from './confirm.ts';
import { connectRunner, type RunnerConnection } from './runner-client.ts';
import { openTerminal, terminalAccess, terminalLabel, type TerminalTarget } from './drillbook-terminal.ts';

interface NodeView {
  name: string;
  address: string;
  groups: string[];
  state: string;
  ssh: boolean;
}
interface LabStatus {
  available: boolean;
  name?: string;
  up: boolean;
  bridge?: boolean;
  topology?: string;
  subnet?: string;
  nodes: NodeView[];
  busy?: string;
}

const POLL_MS = 5000;
const DESTRUCTIVE = new Set(['down', 'crash', 'reset', 'stop']);

function confirmLab(name: string, what: string): Promise<boolean> {
  return confirmByName({ title: what, name, action: 'Go' });
}

class DrillbookLab extends HTMLElement {
  private conn: RunnerConnection | null = null;
  private status?: LabStatus;
  private timer?: ReturnType<typeof setTimeout>;
  private acting = false;
  /** The runner has the browser terminal on: offer a terminal per node and on this machine. */
  private terminal = false;

  private initialized = false;

  connectedCallback() {
    // Called again if the element is moved in the DOM: wire it up once.
    if (this.initialized) return;
    this.initialized = true;
    this.addEventListener('click', (e) => {
      const b = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-lab-action]');
      if (b) void this.act(b.dataset.labAction!, b.dataset.node);
      const t = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-terminal]');
      if (t) void openTerminal(t.dataset.terminal === 'local' ? { kind: 'local' } : { kind: 'host', host: t.dataset.host! }, t);
    });
    document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && this.poll());
    void this.attach();
  }

  private get compact() {
    return this.dataset.compact === 'true';
  }

  private $<T extends HTMLElement>(sel: string) {
    return this.querySelector(sel) as T;
  }

  private async attach() {
    this.conn = await connectRunner();
    if (!this.conn) {
      this.$('.db-lab-summary').textContent = 'Runner not connected';
      return;
    }
    this.conn.onClose((reason) => {
      this.conn = null;
      this.$('.db-lab-summary').textContent = reason ? `Runner disconnected: ${reason}` : 'Runner disconnected';
    });
    this.poll();
    void terminalAccess().then((a) => {
      this.terminal = a.enabled;
      if (a.enabled && this.status) this.render(this.status);
    });
  }

  private terminalButton(target: TerminalTarget, text: string): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.terminal = target.kind;
    if (target.kind === 'host') b.dataset.host = target.host;
    b.textContent = text;
    b.setAttribute('aria-label', terminalLabel(target));
    return b;
  }

  /** "Terminal: this machine, and each inventory host" (lab nodes get theirs in their row). */
  private renderTerminals(st: LabStatus) {
    if (!this.terminal || this.compact) return;
    let row = this.querySelector<HTMLElement>('.db-lab-terminals');
    if (!row) {
      row = document.createElement('div');
      row.className = 'db-lab-terminals';
      this.$('.db-lab-head').after(row);
    }
    const label = document.createElement('span');
    label.className = 'db-lab-terminals-label';
    label.textContent = 'Terminal:';
    const names = st.available ? [] : (this.conn?.inventory?.hosts ?? []).map((h) => h.name);
    // Unchanged: keep the buttons (and the focus on them) across polls.
    if (row.dataset.hosts === names.join(' ') && row.childElementCount) return;
    row.dataset.hosts = names.join(' ');
    row.replaceChildren(label, this.terminalButton({ kind: 'local' }, 'this machine'), ...names.map((h) => this.terminalButton({ kind: 'host', host: h }, h)));
  }

  private poll() {
    clearTimeout(this.timer);
    if (!this.conn) return;
    const id = this.conn.send({ type: 'lab-status' }, (msg) => {
      this.conn?.off(id);
      if (msg.type === 'lab-status') this.render(msg.status);
      if (document.visibilityState === 'visible') this.timer = setTimeout(() => this.poll(), POLL_MS);
    });
  }

  private render(st: LabStatus) {
    const wasUp = this.status?.up;
    this.status = st;
    const summary = this.$('.db-lab-summary');
    const up = this.$<HTMLButtonElement>('[data-lab-action="up"]');
    const down = this.querySelector<HTMLButtonElement>('[data-lab-action="down"]');
    this.dataset.state = st.up ? 'up' : 'down';
    this.renderTerminals(st);
    if (!st.available) {
      summary.textContent = 'The runner targets an inventory file, not a lab.';
      up.hidden = true;
      if (down) down.hidden = true;
      this.hidden = this.compact;
      return;
    }
    const running = st.nodes.filter((n) => n.state === 'running').length;
    summary.textContent = st.busy
      ? `${st.name}: ${st.busy}…`
      : st.nodes.length
        ? `${st.name} (${st.topology}, ${st.subnet}): ${running} of ${st.nodes.length} nodes running${st.bridge ? '' : ', bridge missing'}`
        : `${st.name}: not up`;
    up.hidden = (st.up && st.bridge === true && running === st.nodes.length) || !!st.busy;
    up.disabled = this.acting;
    if (down) {
      down.hidden = !st.nodes.length || !!st.busy;
      down.disabled = this.acting;
    }
    const nodes = this.$('.db-lab-nodes');
    nodes.hidden = !st.nodes.length;
    nodes.replaceChildren(
      ...st.nodes.map((n) => {
        const row = document.createElement('div');
        row.className = 'db-lab-node';
        row.dataset.state = n.state;
        const label = document.createElement('span');
        label.className = 'db-chip';
        label.dataset.verdict = n.state === 'running' && n.ssh ? 'passed' : n.state === 'running' ? 'timeout' : 'failed';
        label.textContent = this.compact ? `${n.name} ${n.state === 'running' ? (n.ssh ? 'up' : 'booting') : 'down'}` : n.name;
        label.title = `${n.address} · ${n.groups.join(', ')} · ${n.state}${n.ssh ? ', SSH answers' : ''}`;
        row.append(label);
        if (!this.compact) {
          const info = document.createElement('span');
          info.className = 'db-lab-info';
          info.textContent = `${n.address} · ${n.groups.join(', ')} · ${n.state}${n.state === 'running' ? (n.ssh ? ' · SSH answers' : ' · booting') : ''}`;
          row.append(info);
          for (const action of n.state === 'running' ? ['stop', 'crash', 'reset'] : ['start', 'reset']) {
            const b = document.createElement('button');
            b.type = 'button';
            b.dataset.labAction = action;
            b.dataset.node = n.name;
            b.textContent = action;
            b.disabled = this.acting || !!st.busy;
            row.append(b);
          }
          if (this.terminal && n.state === 'running') row.append(this.terminalButton({ kind: 'host', host: n.name }, 'terminal'));
        }
        return row;
      }),
    );
    // Steps planned while the lab was down can plan now.
    if (st.up && wasUp === false) document.dispatchEvent(new Event('drillbook:params'));
  }

  private async act(action: string, node?: string) {
    if (!this.conn || !this.status?.name || this.acting) return;
    let confirm: string | undefined;
    if (DESTRUCTIVE.has(action)) {
      const what = node ? `${action} ${node} in lab ${this.status.name}?` : `Tear down lab ${this.status.name}? Every node and its state is removed.`;
      if (!(await confirmLab(this.status.name, what))) return;
      confirm = this.status.name;
    }
    this.acting = true;
    const log = this.$<HTMLPreElement>('.db-lab-log');
    log.hidden = false;
    log.textContent = `$ drillbook lab ${action}${node ? ` ${node}` : ''}\n`;
    this.render(this.status);
    const id = this.conn.send({ type: 'lab-action', action, ...(node ? { node } : {}), ...(confirm ? { confirm } : {}) }, (msg) => {
      if (msg.type === 'lab-output') {
        log.append(msg.text + '\n');
        log.scrollTop = log.scrollHeight;
      } else if (msg.type === 'lab-done' || msg.type === 'error') {
        this.conn?.off(id);
        this.acting = false;
        if (!msg.ok) log.append(`✘ ${msg.error.message}${msg.error.hint ? ` — ${msg.error.hint}` : ''}\n`);
        else log.append('✔ done\n');
        this.poll();
      }
    });
    setTimeout(() => this.poll(), 500);
  }
}

if (!customElements.get('drillbook-lab')) customElements.define('drillbook-lab', DrillbookLab);
