/**
 * <drillbook-drill>: runs a drill when a runner is connected and shows what
 * the probe saw. It names the drill's id and hash (the server runs the
 * manifest's drill, never text from the page), shows the live phase and
 * counters, draws each probe sample as it arrives, and redraws from the
 * final result: an SVG timeline (time relative to the fault) with the
 * figures beside it. On load it shows the last stored result.
 */
import { connectRunner, type RunnerConnection } from './runner-client.ts';
import { confirmByName } from './confirm.ts';

// The wire shapes this island reads (server/ws/protocol.ts, server/runner/drill.ts).
// Written out here: nothing under src/ imports the server, not even its types.
type Role = 'break' | 'verify' | 'recover';
interface ProbeSample {
  /** ms: since the drill started (live) or relative to the fault (result). */
  t: number;
  ms: number;
  ok: boolean;
  rc: number;
  backend?: string;
}
interface DrillFigures {
  firstFailureMs: number | null;
  outageMs: number;
  restoredMs: number | null;
  recoveryConditionMs: number | null;
  failed: number;
  total: number;
  servedBefore?: string;
  servedAfter?: string;
}
interface DrillPhase {
  name: 'baseline' | 'fault' | 'fault-done' | 'recovered' | 'settled' | 'restored-lab';
  t: number;
}
interface HostResult {
  host: string;
  verdict: string;
  exitCode?: number;
  attempts: number;
  durationMs: number;
  message: string;
  output?: string;
}
interface RunResult {
  verdict: string;
  message: string;
  hosts: HostResult[];
}
type RunEvent =
  | { type: 'start'; targets: { host: string }[] }
  | { type: 'attempt'; attempt: number; of: number; hosts: string[] }
  | { type: 'output'; host: string; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'host-done'; result: HostResult }
  | { type: 'done'; result: RunResult };
/** A drill result as the page gets it: `drill-last` (from the run history) may leave out the steps' own results. */
interface ShownResult {
  runId: string;
  drill: { globalId: string; title: string; hash: string };
  inventory: string;
  verdict: string;
  message: string;
  startedAt: string;
  durationMs: number;
  phases: DrillPhase[];
  samples: ProbeSample[];
  figures: DrillFigures;
  steps?: Partial<Record<Role, RunResult>>;
}
type DrillEvent =
  | { type: 'drill-phase'; phase: DrillPhase }
  | { type: 'drill-sample'; sample: ProbeSample }
  | { type: 'drill-step'; role: Role; event: RunEvent }
  | { type: 'drill-done'; result: ShownResult };
const ROLES: Role[] = ['break', 'verify', 'recover'];
const ROLE_LABEL: Record<Role, string> = { break: 'Break', verify: 'Recovery condition', recover: 'Recover' };
const OK = new Set(['passed', 'skipped']);
const KEEP = 20_000;
const SVG = 'http://www.w3.org/2000/svg';

interface StepView {
  role: Role;
  hosts: Map<string, { host: string; out: string; result?: HostResult }>;
  attempt?: { attempt: number; of: number };
  result?: RunResult;
}

interface Marker {
  key: 'fault' | 'recovered' | 'restored' | 'settled';
  label: string;
  t: number;
}

interface ChartModel {
  /** t relative to the fault. */
  samples: ProbeSample[];
  markers: Marker[];
  from: number;
  to: number;
  live: boolean;
  title: string;
  desc: string;
}

// ------------------------------------------------------------------ formatting

function fmtMs(ms: number): string {
  const a = Math.abs(ms);
  const sign = ms < 0 ? '−' : '';
  if (a < 1000) return `${sign}${Math.round(a)} ms`;
  if (a < 60_000) return `${sign}${(a / 1000).toFixed(a < 10_000 ? 2 : 1)} s`;
  return `${sign}${Math.floor(a / 60_000)} min ${Math.round((a % 60_000) / 1000)} s`;
}

function fmtTick(ms: number, step: number): string {
  if (ms === 0) return '0';
  const digits = step < 1000 ? (step % 500 === 0 ? 1 : step % 100 === 0 ? 1 : 2) : 0;
  return `${ms < 0 ? '−' : ''}${(Math.abs(ms) / 1000).toFixed(digits)} s`;
}

function fmtDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Reader-set values of the chapter's variables (empty inputs are left to the inventory/defaults). */
function pageParams(): Record<string, string> {
  const out: Record<string, string> = {};
  document.querySelectorAll<HTMLInputElement>('form.db-vars input[name]').forEach((i) => {
    if (i.value !== '') out[i.name] = i.value;
  });
  return out;
}

/** The figures in words, for the chart's description. */
function describe(f: DrillFigures): string {
  const parts: string[] = [];
  if (f.servedBefore || f.servedAfter) {
    parts.push(f.servedBefore && f.servedAfter && f.servedBefore !== f.servedAfter ? `Served by ${f.servedBefore} before the fault and by ${f.servedAfter} after it` : `Served by ${f.servedAfter ?? f.servedBefore} throughout`);
  }
  parts.push(f.firstFailureMs === null ? 'no probe failed' : `first failed probe at ${fmtMs(f.firstFailureMs)}; longest outage ${fmtMs(f.outageMs)}`);
  if (f.restoredMs === null) parts.push('service not restored while probing');
  else if (f.firstFailureMs !== null) parts.push(`service restored at ${fmtMs(f.restoredMs)}`);
  parts.push(f.recoveryConditionMs === null ? 'the recovery condition never held' : `recovery condition held at ${fmtMs(f.recoveryConditionMs)}`);
  parts.push(`${f.failed} of ${f.total} probes failed`);
  return `${parts.join('; ')}. Times are from the fault.`;
}

// ------------------------------------------------------------------ the chart

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number | undefined>, ...kids: (Node | string)[]): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, String(v));
  e.append(...kids);
  return e;
}

const TICK_STEPS = [100, 200, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000];
const CHAR_W = 6.3; // average width of an 11px label, px

/** Runs of failed samples: from the first failure's start to the next success's start. */
function outages(samples: ProbeSample[]): { start: number; end: number }[] {
  const runs: { start: number; end: number }[] = [];
  let start: number | null = null;
  for (const s of samples) {
    if (!s.ok && start === null) start = s.t;
    else if (s.ok && start !== null) {
      runs.push({ start, end: s.t });
      start = null;
    }
  }
  if (start !== null) {
    const last = samples.at(-1)!;
    runs.push({ start, end: last.t + last.ms });
  }
  return runs;
}

/** Draw the timeline at the given pixel width (text stays at its real size). */
function drawTimeline(m: ChartModel, width: number, ids: { title: string; desc: string }): SVGSVGElement {
  const W = Math.max(300, Math.round(width));
  const padL = 64;
  const padR = 14;
  const plotW = W - padL - padR;
  const span = Math.max(1, m.to - m.from);
  const x = (t: number) => padL + ((t - m.from) / span) * plotW;

  // Marker labels first: they take up to three rows above the lanes.
  const markers = [...m.markers].sort((a, b) => a.t - b.t);
  const rowEnds: number[] = [];
  const placed = markers.map((mk) => {
    const text = `${mk.label} ${mk.key === 'fault' ? '0' : fmtMs(mk.t)}`;
    const w = text.length * CHAR_W;
    const mx = x(mk.t);
    const anchorEnd = mx + 3 + w > W - 2;
    const left = anchorEnd ? mx - 3 - w : mx + 3;
    let row = rowEnds.findIndex((end) => end < left - 6);
    if (row === -1) row = rowEnds.length < 3 ? rowEnds.length : rowEnds.indexOf(Math.min(...rowEnds));
    rowEnds[row] = Math.max(rowEnds[row] ?? -Infinity, left + w);
    return { mk, text, mx, anchorEnd, row };
  });
  const rows = Math.max(1, rowEnds.length);
  const top = 6 + rows * 14 + 6;
  const laneH = 42;
  const okY = top + 5;
  const failY = top + 31;
  const bY = top + laneH + 6;
  const axisY = bY + 16 + 8;
  const H = axisY + 22;

  const svg = el('svg', { class: 'db-timeline', role: 'img', 'aria-labelledby': `${ids.title} ${ids.desc}`, width: W, height: H, viewBox: `0 0 ${W} ${H}`, 'data-live': m.live ? 'true' : 'false' });
  svg.append(el('title', { id: ids.title }, m.title), el('desc', { id: ids.desc }, m.desc));

  // Grid and axis ticks.
  const step = TICK_STEPS.find((s) => span / s <= Math.max(2, Math.floor(plotW / 64))) ?? TICK_STEPS.at(-1)!;
  const grid = el('g', { class: 'db-tl-axis' });
  for (let t = Math.ceil(m.from / step) * step; t <= m.to; t += step) {
    const tx = x(t);
    grid.append(
      el('line', { class: t === 0 ? 'db-tl-grid db-tl-grid-zero' : 'db-tl-grid', x1: tx, x2: tx, y1: top, y2: axisY }),
      el('line', { class: 'db-tl-tick', x1: tx, x2: tx, y1: axisY, y2: axisY + 4 }),
      el('text', { class: 'db-tl-ticklabel', x: tx, y: axisY + 16, 'text-anchor': 'middle' }, fmtTick(t, step)),
    );
  }
  grid.append(el('line', { class: 'db-tl-baseline', x1: padL, x2: W - padR, y1: axisY, y2: axisY }));
  grid.append(el('text', { class: 'db-tl-lane', x: padL - 8, y: axisY + 16, 'text-anchor': 'end' }, 'time'));
  svg.append(grid);

  // Lane labels.
  svg.append(
    el('text', { class: 'db-tl-lane', x: padL - 8, y: okY + 10, 'text-anchor': 'end' }, 'answered'),
    el('text', { class: 'db-tl-lane', x: padL - 8, y: failY + 4, 'text-anchor': 'end' }, 'failed'),
    el('text', { class: 'db-tl-lane', x: padL - 8, y: bY + 11, 'text-anchor': 'end' }, 'served by'),
  );

  // Outage bands behind the samples.
  const bands = el('g', { class: 'db-tl-bands' });
  for (const o of outages(m.samples)) {
    const bx = x(o.start);
    bands.append(el('rect', { class: 'db-tl-band', x: bx, y: top, width: Math.max(2, x(o.end) - bx), height: laneH }, el('title', {}, `outage: ${fmtMs(o.start)} to ${fmtMs(o.end)} (${fmtMs(o.end - o.start)})`)));
  }
  svg.append(bands);

  // Which backend answered: one segment per run of the same backend.
  const backends = [...new Set(m.samples.filter((s) => s.ok && s.backend).map((s) => s.backend!))];
  const lane = el('g', { class: 'db-tl-backends' });
  const segs: { backend: string; start: number; end: number }[] = [];
  m.samples.forEach((s, i) => {
    const next = m.samples[i + 1];
    const end = next ? next.t : s.t + Math.max(s.ms, 1);
    const cur = segs.at(-1);
    if (!s.ok || !s.backend) return;
    if (cur && cur.backend === s.backend && cur.end >= s.t - 1) cur.end = end;
    else segs.push({ backend: s.backend, start: s.t, end });
  });
  for (const seg of segs) {
    const sx = x(seg.start);
    const sw = Math.max(2, x(seg.end) - sx);
    const idx = backends.indexOf(seg.backend) % 4;
    const g = el('g', { class: `db-tl-seg db-tl-b${idx}`, 'data-backend': seg.backend });
    g.append(el('title', {}, `${seg.backend} answered from ${fmtMs(seg.start)} to ${fmtMs(seg.end)}`));
    g.append(el('rect', { x: sx, y: bY, width: sw, height: 15, rx: 2 }));
    const label = seg.backend.length > 16 ? `${seg.backend.slice(0, 15)}…` : seg.backend;
    if (sw >= label.length * CHAR_W + 8) g.append(el('text', { class: 'db-tl-seglabel', x: sx + sw / 2, y: bY + 11.5, 'text-anchor': 'middle' }, label));
    lane.append(g);
  }
  svg.append(lane);

  // One mark per probe sample: answered high, failed low with a cross.
  const marks = el('g', { class: 'db-tl-samples' });
  for (const s of m.samples) {
    const sx = x(s.t);
    const sw = x(s.t + s.ms) - sx;
    const g = el('g', { class: 'db-tl-sample', 'data-ok': s.ok ? 'true' : 'false', 'data-t': s.t });
    g.append(el('title', {}, `${fmtMs(s.t)}: ${s.ok ? `answered${s.backend ? ` by ${s.backend}` : ''}` : `failed (exit ${s.rc}${s.rc === 124 ? ', timed out' : ''})`} in ${fmtMs(s.ms)}`));
    if (s.ok) g.append(el('rect', { class: 'db-tl-ok', x: sx - 1.5, y: okY, width: Math.max(3, sw), height: 12, rx: 1 }));
    else {
      g.append(el('rect', { class: 'db-tl-fail', x: sx, y: failY - 1.5, width: Math.max(3, sw), height: 3 }));
      g.append(el('path', { class: 'db-tl-x', d: `M${sx - 4} ${failY - 4}L${sx + 4} ${failY + 4}M${sx + 4} ${failY - 4}L${sx - 4} ${failY + 4}` }));
    }
    marks.append(g);
  }
  svg.append(marks);

  // Vertical markers with their labels.
  const mks = el('g', { class: 'db-tl-markers' });
  for (const p of placed) {
    const ly = 6 + p.row * 14 + 10;
    mks.append(
      el(
        'g',
        { class: `db-tl-marker db-tl-m-${p.mk.key}`, 'data-marker': p.mk.key, 'data-t': p.mk.t },
        el('line', { x1: p.mx, x2: p.mx, y1: ly + 3, y2: axisY }),
        el('text', { x: p.anchorEnd ? p.mx - 3 : p.mx + 3, y: ly, 'text-anchor': p.anchorEnd ? 'end' : 'start' }, p.text),
      ),
    );
  }
  svg.append(mks);

  if (!m.samples.length) svg.append(el('text', { class: 'db-tl-empty', x: padL + plotW / 2, y: top + laneH / 2 + 4, 'text-anchor': 'middle' }, m.live ? 'waiting for the first probe…' : 'no probe results'));
  return svg;
}

// ------------------------------------------------------------------ the element

let instances = 0;

class DrillbookDrill extends HTMLElement {
  private conn: RunnerConnection | null = null;
  private inventoryName = '';
  private runReq?: string;
  private runId?: string;
  private initialized = false;
  private uid = `dbd${++instances}`;
  private frame = 0;
  private ticker?: ReturnType<typeof setInterval>;
  private lastWidth = 0;
  /** What the chart shows: a result, or the live run. */
  private result?: ShownResult;
  /** The result shown before a run started, shown again if the server refuses the run. */
  private previous?: { result: ShownResult; when: 'last' | 'now' };
  private shownWhen: 'last' | 'now' = 'last';
  private live?: {
    started: number;
    probeFrom: string;
    targets: Partial<Record<Role, string[]>>;
    samples: ProbeSample[];
    phases: DrillPhase[];
    faultT?: number;
  };
  private steps = new Map<Role, StepView>();

  private $<T extends Element = HTMLElement>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  private get baselineMs() {
    return Number(this.dataset.baselineMs) || 0;
  }
  private get settleMs() {
    return Number(this.dataset.settleMs) || 0;
  }

  connectedCallback() {
    if (this.initialized) return;
    this.initialized = true;
    this.$<HTMLButtonElement>('.db-drill-run').addEventListener('click', () => void this.onRun());
    this.$<HTMLButtonElement>('.db-drill-cancel').addEventListener('click', () => this.onCancel());
    const host = this.$('.db-drill-svg');
    new ResizeObserver(() => {
      const w = Math.round(host.clientWidth);
      if (w && w !== this.lastWidth && (this.result || this.live)) this.schedule();
    }).observe(host);
    void this.attach();
  }

  private status(text: string, kind: 'idle' | 'busy' | 'ok' | 'bad' | 'off' = 'idle') {
    const s = this.$('.db-drill-bar .db-status');
    s.textContent = text;
    s.dataset.state = kind;
  }

  private error(text?: string) {
    const p = this.$('.db-drill-error');
    p.hidden = !text;
    p.textContent = text ?? '';
  }

  private async attach() {
    this.conn = await connectRunner();
    if (!this.conn) {
      this.status('Runner not connected: start it with npm start and open the link it prints', 'off');
      return;
    }
    this.conn.onClose(() => {
      this.conn = null;
      this.$<HTMLButtonElement>('.db-drill-run').disabled = true;
      if (this.runReq) {
        this.finish();
        this.error('The runner disconnected during the drill: the server cancels what a closed connection started. Reload the page after restarting it.');
      }
      this.status('Runner disconnected: reload the page after restarting it', 'off');
    });
    if (!this.conn.inventory) {
      const p = this.conn.problem;
      this.status(p ? `No target: ${p.message}${p.hint ? ` (${p.hint})` : ''}` : 'No target inventory', 'off');
      return;
    }
    this.inventoryName = this.conn.inventory.name;
    this.$<HTMLButtonElement>('.db-drill-run').disabled = false;
    this.status(`Ready: ${this.inventoryName}`, 'idle');
    const id = this.conn.send({ type: 'drill-last', drill: this.dataset.drill }, (msg) => {
      this.conn?.off(id);
      if (msg.type === 'drill-last' && msg.result && !this.live && !this.result) this.showResult(msg.result, 'last');
    });
  }

  // ---------------------------------------------------------------- running

  private async onRun() {
    if (!this.conn || this.runReq) return;
    const confirm = await this.askConfirm();
    if (confirm === undefined) return;
    this.error();
    this.previous = this.result ? { result: this.result, when: this.shownWhen } : undefined;
    this.result = undefined;
    this.steps.clear();
    this.live = { started: performance.now(), probeFrom: this.dataset.probeFrom ?? '', targets: {}, samples: [], phases: [] };
    this.$<HTMLButtonElement>('.db-drill-run').disabled = true;
    this.$<HTMLButtonElement>('.db-drill-cancel').hidden = false;
    this.$('.db-drill-live').hidden = false;
    const res = this.$('.db-drill-result');
    res.hidden = false;
    res.dataset.verdict = 'running';
    this.$('.db-drill-caption').textContent = `This run, on ${this.inventoryName}: live`;
    const v = this.$('.db-drill-verdict');
    v.textContent = '';
    v.dataset.verdict = '';
    this.setFigures(undefined);
    this.phaseText(`Starting the probe from ${this.dataset.probeFrom}…`);
    this.status('Running the drill…', 'busy');
    this.dataset.state = 'running';
    this.announce(true);
    this.ticker = setInterval(() => this.schedule(), 500);
    this.schedule();
    this.runReq = this.conn.send({ type: 'drill', drill: this.dataset.drill, hash: this.dataset.hash, params: pageParams(), confirm }, (msg) => this.onMessage(msg));
  }

  private onMessage(msg: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (msg.type === 'run-started') {
      this.runId = msg.runId;
      return;
    }
    if (msg.type === 'error') {
      this.finish();
      this.live = undefined;
      this.$('.db-drill-live').hidden = true;
      this.error(`✘ Not run: ${msg.error.message}${msg.error.hint ? ` — ${msg.error.hint}` : ''}`);
      this.status('Not run', 'bad');
      this.dataset.state = 'refused';
      const res = this.$('.db-drill-result');
      if (this.previous) this.showResult(this.previous.result, this.previous.when);
      else res.hidden = true;
      return;
    }
    if (msg.type === 'drill-plan') {
      if (!this.live) return;
      this.live.probeFrom = msg.probeFrom;
      for (const t of msg.targets as { role: Role; hosts: string[] }[]) this.live.targets[t.role] = t.hosts;
      this.phaseText(`Starting the probe from ${msg.probeFrom}…`);
      return;
    }
    if (msg.type !== 'drill-event') return;
    const ev = msg.event as DrillEvent;
    if (ev.type === 'drill-sample') {
      this.live?.samples.push(ev.sample);
      this.schedule();
    } else if (ev.type === 'drill-phase') {
      if (!this.live) return;
      this.live.phases.push(ev.phase);
      if (ev.phase.name === 'fault') this.live.faultT = ev.phase.t;
      this.phaseText(this.phaseLine(ev.phase));
      this.schedule();
    } else if (ev.type === 'drill-step') {
      this.onStepEvent(ev.role, ev.event);
    } else if (ev.type === 'drill-done') {
      this.finish();
      this.live = undefined;
      this.$('.db-drill-live').hidden = true;
      this.showResult(ev.result, 'now');
      const ok = OK.has(ev.result.verdict);
      this.status(ok ? 'Done' : ev.result.verdict === 'cancelled' ? 'Cancelled' : 'Failed', ok ? 'ok' : 'bad');
    }
  }

  private phaseLine(p: DrillPhase): string {
    const L = this.live!;
    const hosts = (r: Role) => (L.targets[r]?.length ? ` (on ${L.targets[r]!.join(', ')})` : '');
    switch (p.name) {
      case 'baseline':
        return `Baseline: probing from ${L.probeFrom} for ${fmtMs(this.baselineMs)} before the fault…`;
      case 'fault':
        return `Fault: running the break step${hosts('break')}…`;
      case 'fault-done':
        return 'Waiting for the recovery condition…';
      case 'recovered':
        return `Recovery condition held at ${fmtMs(p.t - (L.faultT ?? 0))}; probing ${fmtMs(this.settleMs)} more to settle…`;
      case 'settled':
        return this.dataset.recoverStep ? `Settled; restoring the lab with the recover step${hosts('recover')}…` : 'Settled; writing the report…';
      case 'restored-lab':
        return 'Lab restored; writing the report…';
    }
  }

  private phaseText(text: string) {
    this.$('.db-drill-phase-text').textContent = text;
  }

  private onStepEvent(role: Role, ev: RunEvent) {
    let view = this.steps.get(role);
    if (!view) this.steps.set(role, (view = { role, hosts: new Map() }));
    if (ev.type === 'start') for (const t of ev.targets) view.hosts.set(t.host, { host: t.host, out: '' });
    else if (ev.type === 'output') {
      const h = view.hosts.get(ev.host) ?? { host: ev.host, out: '' };
      h.out = (h.out + ev.text).slice(-KEEP);
      view.hosts.set(ev.host, h);
    } else if (ev.type === 'attempt') {
      view.attempt = { attempt: ev.attempt, of: ev.of };
      if (role === 'verify' && ev.attempt > 1 && this.live && !this.live.phases.some((p) => p.name === 'recovered')) {
        this.phaseText(`Waiting for the recovery condition… (attempt ${ev.attempt} of ${ev.of})`);
      }
    } else if (ev.type === 'host-done') {
      const h = view.hosts.get(ev.result.host) ?? { host: ev.result.host, out: '' };
      h.result = ev.result;
      view.hosts.set(ev.result.host, h);
    } else if (ev.type === 'done') view.result = ev.result;
    this.renderSteps();
  }

  private finish() {
    if (this.runReq) this.conn?.off(this.runReq);
    this.runReq = undefined;
    this.runId = undefined;
    clearInterval(this.ticker);
    this.$<HTMLButtonElement>('.db-drill-run').disabled = !this.conn;
    const cancel = this.$<HTMLButtonElement>('.db-drill-cancel');
    cancel.hidden = true;
    cancel.disabled = false;
    this.announce(false);
  }

  private onCancel() {
    if (!this.conn || !this.runId) return;
    this.status('Cancelling…', 'busy');
    this.$<HTMLButtonElement>('.db-drill-cancel').disabled = true;
    const id = this.conn.send({ type: 'cancel', runId: this.runId }, () => this.conn?.off(id));
  }

  /** Tell the page's cluster maps to poll faster while the drill runs. */
  private announce(running: boolean) {
    document.dispatchEvent(new CustomEvent('drillbook:drill', { detail: { drill: this.dataset.drill, running } }));
  }

  private async askConfirm(): Promise<string | undefined> {
    const inv = this.inventoryName;
    const title = (id?: string) => (id ? this.querySelector(`drillbook-step[data-step="${CSS.escape(id)}"] .db-title`)?.textContent?.trim() : undefined);
    const breakTitle = title(this.dataset.breakStep) ?? this.dataset.breakStep;
    const recoverTitle = title(this.dataset.recoverStep);
    const ok = await confirmByName({
      title: 'This drill breaks something on purpose.',
      body: `It runs "${breakTitle}" in ${inv} while probing from ${this.dataset.probeFrom}, waits for the recovery condition` + (recoverTitle ? `, then restores the lab with "${recoverTitle}".` : '. Nothing restores the lab afterwards.'),
      name: inv,
      action: 'Run drill',
    });
    return ok ? inv : undefined;
  }

  // ---------------------------------------------------------------- results

  private showResult(given: ShownResult, when: 'last' | 'now') {
    const r: ShownResult = { ...given, samples: given.samples ?? [], phases: given.phases ?? [] };
    this.result = r;
    this.shownWhen = when;
    const res = this.$('.db-drill-result');
    res.hidden = false;
    res.dataset.verdict = r.verdict;
    this.dataset.state = r.verdict;
    const older = r.drill.hash !== this.dataset.hash ? ' (an earlier version of this drill)' : '';
    this.$('.db-drill-caption').textContent =
      when === 'last' ? `Last run: ${fmtDate(r.startedAt)} on ${r.inventory}, ${fmtMs(r.durationMs)}${older}` : `This run: ${fmtDate(r.startedAt)} on ${r.inventory}, ${fmtMs(r.durationMs)}`;
    const v = this.$('.db-drill-verdict');
    v.dataset.verdict = r.verdict;
    const mark = OK.has(r.verdict) ? '✔' : r.verdict === 'cancelled' || r.verdict === 'timeout' ? '■' : '✘';
    v.textContent = `${mark} ${r.verdict} · ${r.message}`;
    this.setFigures(r.figures);
    this.steps.clear();
    for (const role of ROLES) {
      const run = r.steps?.[role];
      if (!run) continue;
      this.steps.set(role, { role, result: run, hosts: new Map(run.hosts.map((h) => [h.host, { host: h.host, out: h.output ?? '', result: h }])) });
    }
    this.renderSteps();
    this.render();
  }

  private setFigures(f: DrillFigures | undefined) {
    const put = (key: string, text: string, value?: number | string | null) => {
      const e = this.querySelector<HTMLElement>(`[data-figure="${key}"]`);
      if (!e) return;
      e.textContent = text;
      e.dataset.value = value === undefined || value === null ? '' : String(value);
    };
    const failedRow = this.querySelector<HTMLElement>('[data-figure="failed"]')?.closest('div');
    if (!f) {
      for (const k of ['servedBefore', 'servedAfter', 'firstFailureMs', 'outageMs', 'restoredMs', 'recoveryConditionMs', 'failed', 'total']) put(k, '…');
      if (failedRow) failedRow.dataset.bad = 'false';
      return;
    }
    put('servedBefore', f.servedBefore ?? 'unknown', f.servedBefore);
    put('servedAfter', f.servedAfter ?? 'unknown', f.servedAfter);
    put('firstFailureMs', f.firstFailureMs === null ? 'none failed' : fmtMs(f.firstFailureMs), f.firstFailureMs);
    put('outageMs', f.firstFailureMs === null ? 'none' : fmtMs(f.outageMs), f.outageMs);
    put('restoredMs', f.restoredMs === null ? 'not while probing' : f.firstFailureMs === null ? 'never interrupted' : fmtMs(f.restoredMs), f.restoredMs);
    put('recoveryConditionMs', f.recoveryConditionMs === null ? 'never held' : fmtMs(f.recoveryConditionMs), f.recoveryConditionMs);
    put('failed', String(f.failed), f.failed);
    put('total', String(f.total), f.total);
    if (failedRow) failedRow.dataset.bad = f.failed > 0 ? 'true' : 'false';
  }

  private renderSteps() {
    const ol = this.$('.db-drill-steps');
    ol.replaceChildren(
      ...ROLES.filter((r) => this.steps.has(r)).map((role) => {
        const v = this.steps.get(role)!;
        const li = document.createElement('li');
        li.dataset.role = role;
        li.dataset.verdict = v.result?.verdict ?? 'running';
        const kind = document.createElement('span');
        kind.className = `db-kind db-kind-${role}`;
        kind.textContent = ROLE_LABEL[role];
        li.append(kind);
        for (const h of v.hosts.values()) {
          const chip = document.createElement('span');
          chip.className = 'db-chip';
          chip.dataset.host = h.host;
          const r = h.result;
          chip.dataset.verdict = r?.verdict ?? 'running';
          chip.textContent = r ? `${h.host} · ${r.verdict}${r.exitCode !== undefined && r.verdict !== 'skipped' ? ` · exit ${r.exitCode}` : ''}${r.verdict !== 'skipped' ? ` · ${fmtMs(r.durationMs)}` : ''}${r.attempts > 1 ? ` · ${r.attempts} tries` : ''}` : `${h.host} · running`;
          chip.title = r?.message ?? 'running';
          li.append(' ', chip);
        }
        const out = [...v.hosts.values()].filter((h) => h.out.trim());
        if (out.length) {
          const d = document.createElement('details');
          const s = document.createElement('summary');
          s.textContent = 'output';
          const pre = document.createElement('pre');
          pre.className = 'db-out';
          pre.tabIndex = 0;
          pre.textContent = out.map((h) => (out.length > 1 ? `── ${h.host} ──\n${h.out}` : h.out)).join('\n');
          d.append(s, pre);
          // Keep a reader's open output open across redraws.
          const prev = this.querySelector<HTMLDetailsElement>(`.db-drill-steps li[data-role="${role}"] details`);
          d.open = prev?.open ?? false;
          li.append(' ', d);
        }
        return li;
      }),
    );
  }

  private schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  /** The chart model: the result, or the live run (times moved to the fault, estimated until it happens). */
  private model(): ChartModel | undefined {
    const title = `Timeline of the drill “${this.querySelector(':scope > section > .db-head .db-title')?.textContent ?? this.dataset.drill}”`;
    if (this.live) {
      const L = this.live;
      const first = L.samples[0];
      const ref = L.faultT ?? (first ? first.t + first.ms + this.baselineMs : this.baselineMs);
      const samples = L.samples.map((s) => ({ ...s, t: s.t - ref }));
      const markers: Marker[] = [];
      if (L.faultT !== undefined) markers.push({ key: 'fault', label: 'fault', t: 0 });
      const after = samples.filter((s) => s.t + s.ms >= 0);
      const lastFail = after.map((s) => s.ok).lastIndexOf(false);
      const back = lastFail >= 0 ? after.slice(lastFail + 1).find((s) => s.ok) : undefined;
      if (back) markers.push({ key: 'restored', label: 'restored', t: back.t });
      for (const p of L.phases) {
        if (p.name === 'recovered') markers.push({ key: 'recovered', label: 'condition held', t: p.t - ref });
        if (p.name === 'settled') markers.push({ key: 'settled', label: 'settled', t: p.t - ref });
      }
      const lastEnd = samples.length ? Math.max(...samples.map((s) => s.t + s.ms)) : 0;
      const nowT = performance.now() - L.started - ref;
      const from = Math.min(-this.baselineMs, samples[0]?.t ?? 0) - 100;
      const to = Math.max(lastEnd, Math.min(nowT, lastEnd + 1000), 1500) + 100;
      const failed = samples.filter((s) => !s.ok).length;
      return { samples, markers, from, to, live: true, title, desc: `Live: ${samples.length} probes so far, ${failed} failed.` };
    }
    const r = this.result;
    if (!r) return undefined;
    const f = r.figures as DrillFigures | undefined;
    const markers: Marker[] = [];
    const phase = (n: DrillPhase['name']) => r.phases.find((p) => p.name === n);
    if (phase('fault')) markers.push({ key: 'fault', label: 'fault', t: 0 });
    if (f && f.recoveryConditionMs !== null) markers.push({ key: 'recovered', label: 'condition held', t: f.recoveryConditionMs });
    if (f && f.firstFailureMs !== null && f.restoredMs !== null) markers.push({ key: 'restored', label: 'restored', t: f.restoredMs });
    const settled = phase('settled');
    if (settled) markers.push({ key: 'settled', label: 'settled', t: settled.t });
    const ts = r.samples.flatMap((s) => [s.t, s.t + s.ms]);
    const baseline = phase('baseline');
    const from = Math.min(...ts, baseline?.t ?? 0, 0) - 100;
    const to = Math.max(...ts, settled?.t ?? 0, 0) + 100;
    return { samples: r.samples, markers, from, to, live: false, title, desc: `${f ? describe(f) : ''} Verdict: ${r.verdict}.`.trim() };
  }

  private render() {
    this.frame = 0;
    const m = this.model();
    const host = this.$('.db-drill-svg');
    if (!m) {
      host.replaceChildren();
      return;
    }
    this.lastWidth = Math.round(host.clientWidth);
    host.replaceChildren(drawTimeline(m, this.lastWidth || 640, { title: `${this.uid}-title`, desc: `${this.uid}-desc` }));
    if (this.live) {
      const L = this.live;
      const ok = L.samples.filter((s) => s.ok).length;
      this.$('.db-drill-count-ok').textContent = String(ok);
      this.$('.db-drill-count-failed').textContent = String(L.samples.length - ok);
      const last = L.samples.at(-1);
      this.$('.db-drill-latest').textContent = last ? (last.ok ? `${last.backend ?? 'answered'} (${fmtMs(last.ms)})` : `failed, exit ${last.rc}${last.rc === 124 ? ' (timed out)' : ''}`) : '—';
      this.$('.db-drill-counters').dataset.latest = last ? (last.ok ? 'ok' : 'failed') : '';
      this.$('.db-drill-elapsed').textContent = fmtMs(Math.round(performance.now() - L.started));
      const failed = this.querySelector<HTMLElement>('[data-figure="failed"]')!;
      failed.textContent = String(L.samples.length - ok);
      failed.closest('div')!.dataset.bad = L.samples.length - ok > 0 ? 'true' : 'false';
      this.querySelector<HTMLElement>('[data-figure="total"]')!.textContent = String(L.samples.length);
    }
  }
}

if (!customElements.get('drillbook-drill')) customElements.define('drillbook-drill', DrillbookDrill);
