/**
 * How a case records its figures: per contender, per metric, one value per
 * round; ratios (peer ÷ Drillbook) computed round by round, then summarised
 * as median and min/max. No thresholds: the figures are reported, never judged.
 */
import { machine, load, type Machine } from './machine.ts';
import { fmt, fmtRatio, max, median, min, round, textTable, type Unit } from './stats.ts';

export interface Contender {
  id: string;
  label: string;
  /** A short name for the README table. */
  short?: string;
  /** Drillbook's own figure (the others are peers or limits). */
  drillbook?: boolean;
}

export interface MetricSpec {
  id: string;
  label: string;
  unit: Unit;
  better: 'lower' | 'higher';
}

export interface Summary {
  perRound: number[];
  median: number;
  min: number;
  max: number;
}

export interface MetricResult extends MetricSpec {
  byContender: Record<string, Summary>;
  /** peer ÷ baseline, per round, for every contender that is not the baseline. */
  ratio: Record<string, Summary>;
}

export interface Reference {
  what: string;
  figure: string;
  source: string;
}

export interface CaseResult {
  id: string;
  title: string;
  date: string;
  machine: Machine;
  rounds: number;
  runsPerRound: number;
  load: { start: number; end: number };
  contenders: Contender[];
  baseline: string;
  metrics: MetricResult[];
  notes: string[];
  notMeasured: Record<string, string>;
  references?: Reference[];
  details?: Record<string, unknown>;
}

function summarise(xs: number[]): Summary {
  return { perRound: xs.map((x) => round(x)), median: round(median(xs)), min: round(min(xs)), max: round(max(xs)) };
}

export class CaseRecorder {
  private values = new Map<string, Map<string, number[]>>(); // metric -> contender -> per round
  readonly notes: string[] = [];
  readonly notMeasured: Record<string, string> = {};
  readonly references: Reference[] = [];
  details: Record<string, unknown> = {};
  private loadStart = load();
  private started = new Date();
  runsPerRound = 1;
  roundsDone = 0;

  constructor(
    readonly id: string,
    readonly title: string,
    readonly contenders: Contender[],
    readonly metrics: MetricSpec[],
    readonly baseline = contenders.find((c) => c.drillbook)!.id,
  ) {}

  record(round: number, contender: string, metric: string, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value)) return;
    if (!this.metrics.some((m) => m.id === metric)) throw new Error(`unknown metric ${metric}`);
    const byC = this.values.get(metric) ?? new Map<string, number[]>();
    this.values.set(metric, byC);
    const arr = byC.get(contender) ?? [];
    arr[round] = value;
    byC.set(contender, arr);
    this.roundsDone = Math.max(this.roundsDone, round + 1);
  }

  skip(contender: string, reason: string): void {
    this.notMeasured[contender] = reason;
  }

  result(): CaseResult {
    const metrics: MetricResult[] = this.metrics.map((m) => {
      const byC = this.values.get(m.id) ?? new Map<string, number[]>();
      const byContender: Record<string, Summary> = {};
      const ratio: Record<string, Summary> = {};
      const base = byC.get(this.baseline) ?? [];
      for (const c of this.contenders) {
        const xs = byC.get(c.id);
        if (!xs || !xs.some((x) => x !== undefined)) continue;
        byContender[c.id] = summarise(xs.filter((x) => x !== undefined));
        if (c.id === this.baseline || c.drillbook) continue;
        const rs: number[] = [];
        for (let r = 0; r < xs.length; r++) if (xs[r] !== undefined && base[r] !== undefined && base[r] > 0) rs.push(xs[r] / base[r]);
        if (rs.length) ratio[c.id] = summarise(rs);
      }
      return { ...m, byContender, ratio };
    });
    return {
      id: this.id,
      title: this.title,
      date: this.started.toISOString(),
      machine: machine(),
      rounds: this.roundsDone,
      runsPerRound: this.runsPerRound,
      load: { start: this.loadStart, end: load() },
      contenders: this.contenders,
      baseline: this.baseline,
      metrics,
      notes: this.notes,
      notMeasured: this.notMeasured,
      references: this.references.length ? this.references : undefined,
      details: Object.keys(this.details).length ? this.details : undefined,
    };
  }
}

/** Run every contender once per round, rotating who goes first so no one always runs on a warmer/cooler machine. */
export async function alternate(rounds: number, contenders: Contender[], run: (round: number, c: Contender) => Promise<void>, progress?: (s: string) => void): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
    for (const c of order) {
      progress?.(`round ${r + 1}/${rounds}: ${c.label}`);
      await run(r, c);
    }
  }
}

export function renderCase(res: CaseResult): string {
  const base = res.contenders.find((c) => c.id === res.baseline)!;
  const head = `${res.title}\n${res.rounds} round${res.rounds === 1 ? '' : 's'}${res.runsPerRound > 1 ? ` × ${res.runsPerRound} alternating runs (each round's figure is the median of its runs)` : ''}; load average ${res.load.start} → ${res.load.end} on ${res.machine.cores} cores (shared, busy machine: figures are relative, never thresholds)\nratio: the contender's figure ÷ ${base.label}'s, computed round by round`;
  const rows: string[][] = [['metric', 'contender', 'median', 'min', 'max', '÷ Drillbook: median [min–max]']];
  for (const m of res.metrics) {
    let first = true;
    for (const c of res.contenders) {
      const s = m.byContender[c.id];
      if (!s) continue;
      const r = m.ratio[c.id];
      rows.push([first ? m.label : '', c.label, fmt(s.median, m.unit), fmt(s.min, m.unit), fmt(s.max, m.unit), r ? `${fmtRatio(r.median)} [${fmtRatio(r.min)}–${fmtRatio(r.max)}]` : c.id === res.baseline ? '(baseline)' : '']);
      first = false;
    }
  }
  const out = [head, textTable(rows, ['l', 'l', 'r', 'r', 'r', 'l'])];
  for (const [c, why] of Object.entries(res.notMeasured)) out.push(`not measured: ${res.contenders.find((x) => x.id === c)?.label ?? c}: ${why}`);
  for (const n of res.notes) out.push(`note: ${n}`);
  if (res.references?.length) {
    out.push('published figures (not measured here, for context only):');
    for (const r of res.references) out.push(`  ${r.what}: ${r.figure} (${r.source})`);
  }
  return out.join('\n');
}
