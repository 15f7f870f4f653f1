/**
 * <drillbook-prepare>: runs the steps that bring the lab to this chapter's
 * starting state. The server decides which steps those are (the same list
 * the page was built with); the page only names the chapter, shows each
 * step's verdict as it lands, and can cancel.
 */
import { confirmByName } from './confirm.ts';
import { connectRunner, type ErrorBody, type RunnerConnection } from './runner-client.ts';

const OUTPUT_TAIL = 4000;

class DrillbookPrepare extends HTMLElement {
  private conn: RunnerConnection | null = null;
  private runId?: string;
  private reqId?: string;
  private initialized = false;
  /** Output of the step running now, per host (kept short: only shown if it fails). */
  private output = new Map<string, string>();

  connectedCallback() {
    if (this.initialized) return;
    this.initialized = true;
    this.$<HTMLButtonElement>('.db-prepare-run').addEventListener('click', () => void this.onRun());
    this.$<HTMLButtonElement>('.db-prepare-cancel').addEventListener('click', () => this.onCancel());
    void this.attach();
  }

  private $<T extends HTMLElement>(sel: string) {
    return this.querySelector(sel) as T;
  }

  private status(text: string, state?: string) {
    const s = this.$('.db-prepare-status');
    s.textContent = text;
    if (state) this.dataset.state = state;
    else delete this.dataset.state;
  }

  private async attach() {
    this.conn = await connectRunner();
    if (!this.conn) return;
    if (this.conn.problem) return this.status(`Runner has no target: ${this.conn.problem.message}`);
    this.$<HTMLButtonElement>('.db-prepare-run').disabled = false;
    this.status(`Target: ${this.conn.inventory?.name ?? 'unknown'}`);
    this.conn.onClose((reason) => {
      this.conn = null;
      this.$<HTMLButtonElement>('.db-prepare-run').disabled = true;
      this.$<HTMLButtonElement>('.db-prepare-cancel').hidden = true;
      this.status(reason ? `Runner disconnected: ${reason}` : 'Runner disconnected');
    });
  }

  private chip(step: string): HTMLElement | null {
    return this.querySelector(`li[data-step="${CSS.escape(step)}"] .db-chip`);
  }

  private setChip(step: string, verdict: string, text = verdict) {
    const c = this.chip(step);
    if (!c) return;
    c.dataset.verdict = verdict;
    c.textContent = text;
  }

  private async onRun() {
    const conn = this.conn;
    if (!conn || this.reqId) return;
    const inv = conn.inventory;
    let confirm: string | undefined;
    if (inv && (inv.profile === 'production' || this.dataset.needsConfirm === 'true')) {
      const ok = await confirmByName({
        title: `Prepare ${inv.name} for this chapter?`,
        body: inv.profile === 'production' ? `${inv.name} is a production inventory: these steps install and configure software on its hosts.` : 'Some of these steps ask for confirmation.',
        name: inv.name,
        action: 'Prepare',
      });
      if (!ok) return;
      confirm = inv.name;
    }
    for (const li of this.querySelectorAll<HTMLElement>('li[data-step]')) this.setChip(li.dataset.step!, 'pending', 'to do');
    const log = this.$<HTMLPreElement>('.db-prepare-log');
    log.hidden = true;
    log.textContent = '';
    this.$<HTMLButtonElement>('.db-prepare-run').disabled = true;
    this.status('Starting…', 'running');
    let total = 0;
    let done = 0;
    let current = '';
    this.reqId = conn.send({ type: 'prepare', chapter: this.dataset.chapter, ...(confirm ? { confirm } : {}) }, (msg) => {
      switch (msg.type) {
        case 'prepare-plan':
          this.runId = msg.runId;
          total = msg.steps.length;
          this.$<HTMLButtonElement>('.db-prepare-cancel').hidden = false;
          this.status(`Preparing ${msg.inventory}: 0 of ${total} steps`, 'running');
          break;
        case 'run-event': {
          const e = msg.event;
          if (e.type === 'start') {
            current = e.step;
            this.output.clear();
            this.setChip(current, 'running', 'running');
          } else if (e.type === 'output') {
            this.output.set(e.host, ((this.output.get(e.host) ?? '') + e.text).slice(-OUTPUT_TAIL));
          } else if (e.type === 'done') {
            done++;
            this.setChip(current, e.result.verdict, e.result.verdict);
            this.status(`Preparing ${e.result.inventory}: ${done} of ${total} steps`, 'running');
            if (e.result.verdict !== 'passed' && e.result.verdict !== 'skipped') this.showFailure(e.result);
          }
          break;
        }
        case 'prepare-done':
          this.finish();
          if (msg.ok) this.status(`Ready: ${msg.passed} of ${msg.total} steps passed. The lab is where this chapter starts.`, 'passed');
          else if (msg.cancelled) this.status(`Cancelled after ${msg.passed} of ${msg.total} steps`, 'cancelled');
          else this.status(`Stopped at ${msg.stoppedAt}: ${msg.passed} of ${msg.total} steps passed`, 'failed');
          document.dispatchEvent(new Event('drillbook:ran'));
          // Steps planned against the lab's earlier state plan again.
          document.dispatchEvent(new Event('drillbook:params'));
          break;
        case 'error':
          this.finish();
          this.status(describe(msg.error), 'failed');
          break;
      }
    });
  }

  private showFailure(result: { message: string; hosts: { host: string; verdict: string; message: string }[] }) {
    const log = this.$<HTMLPreElement>('.db-prepare-log');
    const lines = [`✘ ${result.message}`];
    for (const h of result.hosts) {
      if (h.verdict === 'passed' || h.verdict === 'skipped') continue;
      lines.push('', `${h.host}: ${h.verdict}: ${h.message}`);
      const out = this.output.get(h.host);
      if (out) lines.push(out.trimEnd());
    }
    log.textContent = lines.join('\n');
    log.hidden = false;
  }

  private finish() {
    if (this.reqId) this.conn?.off(this.reqId);
    this.reqId = undefined;
    this.runId = undefined;
    this.$<HTMLButtonElement>('.db-prepare-run').disabled = !this.conn;
    this.$<HTMLButtonElement>('.db-prepare-cancel').hidden = true;
  }

  private onCancel() {
    if (!this.conn || !this.runId) return;
    this.conn.send({ type: 'cancel', runId: this.runId }, () => {});
    this.status('Cancelling…', 'running');
  }
}

function describe(e: ErrorBody): string {
  return `✘ ${e.message}${e.hint ? ` — ${e.hint}` : ''}`;
}

if (!customElements.get('drillbook-prepare')) customElements.define('drillbook-prepare', DrillbookPrepare);
