/**
 * A runner session: the manifest, the target inventory and its SSH pool.
 * The WebSocket handlers and the CLI both go through it, so a step runs the
 * same way from the page and from the terminal.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InventoryError, Refused, UsageError } from '../../src/runbook/errors.ts';
import { findChapter, findDrill, findStep, loadManifest, prerequisiteSteps } from '../../src/runbook/manifest.ts';
import type { ClusterMapSpec, Drill, Manifest, Step } from '../../src/runbook/types.ts';
import { inventoryFingerprint, loadInventory, type Inventory } from '../inventory.ts';
import { History } from '../history/db.ts';
import { lockHosts } from './host-locks.ts';
import { randomUUID } from 'node:crypto';
import { stateDir } from '../state.ts';
import { KnownHosts } from '../transports/known-hosts.ts';
import { SshPool } from '../transports/ssh-pool.ts';
import type { Transport } from '../transports/types.ts';
import { executeStep, type ExecuteOptions } from './execute.ts';
import { planStep, type StepPlan } from './plan.ts';
import { isOk, type RunResult } from './results.ts';
import { runDrill, type DrillOptions, type DrillPlans, type DrillResult } from './drill.ts';
import { probeAsStep } from './probe.ts';

export interface TargetSelection {
  inventory?: string;
  lab?: string;
  /** Allow break steps (and drills) on a production inventory. Off unless asked for explicitly. */
  allowBreaks?: boolean;
}

export interface RecordOptions {
  /** Where the run was started, for the run record. */
  source?: 'cli' | 'page';
}

export const DEFAULT_LAB = 'local';

export function labInventoryFile(lab: string): string {
  return path.join(stateDir(), 'labs', lab, 'inventory.yaml');
}

/** The inventory file a command targets: --inventory FILE, else --lab NAME, else the local lab. */
export function inventoryFileFor(sel: TargetSelection): string {
  if (sel.inventory && sel.lab) throw new UsageError('give either --inventory or --lab, not both');
  if (sel.inventory) return path.resolve(sel.inventory);
  const lab = sel.lab ?? DEFAULT_LAB;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(lab)) throw new UsageError(`bad lab name "${lab}"`, '--lab');
  return labInventoryFile(lab);
}

export function loadTarget(sel: TargetSelection): Inventory {
  const file = inventoryFileFor(sel);
  if (!sel.inventory && !existsSync(file)) {
    const lab = sel.lab ?? DEFAULT_LAB;
    throw new InventoryError(`lab "${lab}" is not up (no ${file})`, '--lab', lab === DEFAULT_LAB ? 'start it with `npx drillbook lab up`, or target a cluster with --inventory FILE' : `start it with \`npx drillbook lab up --name ${lab}\``);
  }
  return loadInventory(file);
}

/** A manifest item the page named, refused if unknown or if the page was built from another version. */
function checked<T extends { hash: string }>(item: T | undefined, what: string, globalId: string, hash: string | undefined): T {
  if (!item) throw new Refused(`no ${what} "${globalId}" in the runbook`, globalId, `only ${what}s written in the chapters can run`);
  if (hash !== undefined && hash !== item.hash) {
    throw new Refused(`the page shows a different version of ${globalId} than the server would run`, globalId, 'rebuild the site (npm run build) and reload the page');
  }
  return item;
}

export class RunnerSession {
  manifest: Manifest;
  private pools = new Map<string, SshPool>();

  constructor(
    readonly selection: TargetSelection,
    manifest?: Manifest,
  ) {
    this.manifest = manifest ?? loadManifest();
  }

  /** Read the inventory again (a lab may have been started since). */
  inventory(): Inventory {
    return loadTarget(this.selection);
  }

  transportFor(inv: Inventory): Transport {
    const fp = inventoryFingerprint(inv);
    let pool = this.pools.get(fp);
    if (!pool) {
      pool = new SshPool({
        hosts: inv.hosts,
        knownHosts: new KnownHosts(path.join(stateDir(), 'known_hosts'), inv.profile === 'production' ? 'strict' : 'record-first-use'),
        connectTimeoutMs: inv.connectTimeoutMs,
      });
      this.pools.set(fp, pool);
    }
    return pool;
  }

  step(globalId: string, hash?: string): Step {
    return checked(findStep(this.manifest, globalId), 'step', globalId, hash);
  }

  drill(globalId: string, hash?: string): Drill {
    return checked(findDrill(this.manifest, globalId), 'drill', globalId, hash);
  }

  planDrill(drill: Drill, params: Record<string, unknown>, paramSource?: string, inv = this.inventory()): DrillPlans {
    const step = (id: string) => findStep(this.manifest, id)!;
    return {
      drill,
      probe: this.plan(probeAsStep(drill), params, paramSource, inv),
      breakStep: this.plan(step(drill.breakStep), params, paramSource, inv),
      verify: this.plan(step(drill.verifyStep), params, paramSource, inv),
      recover: drill.recoverStep ? this.plan(step(drill.recoverStep), params, paramSource, inv) : undefined,
    };
  }

  /** Run a drill: every host its steps touch stays locked for the whole drill; recorded in the history. */
  runDrill(plans: DrillPlans, opts: DrillOptions & RecordOptions = {}): Promise<DrillResult> {
    const inv = plans.breakStep.inventory;
    const hosts = [plans.breakStep, plans.verify, plans.recover].flatMap((p) => p?.targets.map((t) => t.host.name) ?? []);
    const { drill } = plans;
    return this.recorded(
      { kind: 'drill', item: drill.globalId, itemHash: drill.hash, chapter: drill.chapter, title: drill.title, inventory: inv, hosts, params: plans.breakStep.params, source: opts.source, runId: opts.runId },
      (runId) => runDrill(plans, this.transportFor(inv), { ...opts, runId }),
      (history, runId, result) => history.finishDrill(runId, result),
    );
  }

  map(globalId: string, hash?: string): ClusterMapSpec {
    return checked(this.manifest.chapters.flatMap((c) => c.maps).find((m) => m.globalId === globalId), 'cluster map', globalId, hash);
  }

  /** Run a cluster map's script on its nodes once; key=value lines become facts. */
  async pollMap(map: ClusterMapSpec, params: Record<string, unknown>): Promise<{ host: string; address: string; reachable: boolean; facts: Record<string, string>; error?: string }[]> {
    const step: Step = { ...map, kind: 'verify', expect: { exit: [0] }, retries: 0, delayMs: 1000, timeoutMs: Math.max(2000, map.intervalMs * 2), confirm: false, lang: 'bash' };
    // Read-only facts: not a run (no host lock, no history record).
    const plan = this.plan(step, params, 'page');
    const result = await executeStep(plan, this.transportFor(plan.inventory));
    return result.hosts.map((h) => {
      const facts: Record<string, string> = {};
      for (const line of h.output.split('\n')) {
        const m = /^([A-Za-z0-9_.:-]{1,64})=(.{0,200})$/.exec(line.trim());
        if (m) facts[m[1]] = m[2];
      }
      const reachable = !['unreachable', 'auth-failed', 'host-key-mismatch', 'host-key-unknown', 'disconnected', 'timeout'].includes(h.verdict);
      return { host: h.host, address: h.address, reachable, facts, error: reachable ? undefined : h.message };
    });
  }

  plan(step: Step, params: Record<string, unknown>, paramSource?: string, inv = this.inventory()): StepPlan {
    const chapter = findChapter(this.manifest, step.chapter)!;
    return planStep(step, chapter, inv, params, paramSource);
  }

  /**
   * Confirmation for break/confirm steps: the caller must name the target
   * inventory. On a production inventory break steps are refused outright
   * unless the server or CLI was started with --allow-breaks.
   */
  checkConfirmation(plan: StepPlan, confirm: string | undefined): void {
    if (plan.step.kind === 'break' && plan.inventory.profile === 'production' && !this.selection.allowBreaks) {
      throw new Refused(
        `${plan.step.globalId} is a break step and "${plan.inventory.name}" is a production inventory`,
        plan.step.globalId,
        'breaking production on purpose needs the server or CLI started with --allow-breaks (and the confirmation)',
      );
    }
    if (!plan.needsConfirm) return;
    if (confirm !== plan.inventory.name) {
      const what = plan.step.kind === 'break' ? 'a break step' : 'marked confirm';
      throw new Refused(
        `${plan.step.globalId} is ${what} and needs a confirmation naming the target "${plan.inventory.name}"`,
        plan.step.globalId,
        `confirm with the inventory name: --confirm ${plan.inventory.name} on the CLI, or the dialog on the page`,
      );
    }
  }

  private historyDb?: History;
  /** The run history (opened on first use; stale "running" rows become interrupted). */
  history(): History {
    if (!this.historyDb) {
      this.historyDb = new History();
      this.historyDb.markInterrupted();
    }
    return this.historyDb;
  }

  /**
   * The plans that bring a lab to a chapter's starting state (the deploy and
   * verify steps of the chapters it builds on, with their defaults), all
   * planned before anything runs so a missing host or value stops it early.
   */
  preparePlans(chapterSlug: string): StepPlan[] {
    const chapter = findChapter(this.manifest, chapterSlug);
    if (!chapter) throw new Refused(`no chapter "${chapterSlug}" in the runbook`, chapterSlug);
    const steps = prerequisiteSteps(this.manifest, chapter);
    if (!steps.length) throw new Refused(`chapter ${chapter.frontmatter.chapter} builds on no chapter with runnable steps: there is nothing to prepare`, chapterSlug);
    const inv = this.inventory();
    return steps.map((st) => this.plan(st, {}, undefined, inv));
  }

  /**
   * Run plans one after the other, each recorded like a single run, and stop
   * at the first that does not pass (or when cancelled). A production
   * inventory, or any step marked confirm, needs the confirmation (the
   * inventory's name) for the whole sequence, given before anything runs.
   */
  async runSequence(plans: StepPlan[], opts: { signal?: AbortSignal; confirm?: string; onEvent?: ExecuteOptions['onEvent'] } & RecordOptions): Promise<{ results: RunResult[]; stoppedAt?: string; cancelled: boolean }> {
    const inv = plans[0]?.inventory;
    if (inv && (inv.profile === 'production' || plans.some((p) => p.needsConfirm)) && opts.confirm !== inv.name) {
      const why = inv.profile === 'production' ? `"${inv.name}" is a production inventory` : 'some of them are marked confirm';
      throw new Refused(`this runs ${plans.length} step${plans.length === 1 ? '' : 's'} on "${inv.name}" and ${why}: it needs a confirmation naming it`, inv.name, `confirm with the inventory name: ${inv.name}`);
    }
    for (const p of plans) this.checkConfirmation(p, opts.confirm);
    const results: RunResult[] = [];
    for (const plan of plans) {
      if (opts.signal?.aborted) return { results, cancelled: true };
      const result = await this.run(plan, { signal: opts.signal, onEvent: opts.onEvent, source: opts.source });
      results.push(result);
      if (!isOk(result.verdict)) return { results, stoppedAt: plan.step.globalId, cancelled: result.verdict === 'cancelled' };
    }
    return { results, cancelled: false };
  }

  /** Run a step: hosts locked against other runs, recorded in the history. */
  run(plan: StepPlan, opts: ExecuteOptions & RecordOptions = {}): Promise<RunResult> {
    const { step } = plan;
    return this.recorded(
      { kind: 'step', item: step.globalId, itemHash: step.hash, chapter: step.chapter, title: step.title, inventory: plan.inventory, hosts: plan.targets.map((t) => t.host.name), params: plan.params, source: opts.source, runId: opts.runId },
      (runId) => executeStep(plan, this.transportFor(plan.inventory), { ...opts, runId }),
      (history, runId, result) => history.finishStep(runId, result),
    );
  }

  /** Lock the hosts, record the start, run, record the outcome (or the failure), release. */
  private async recorded<T>(
    what: { kind: 'step' | 'drill'; item: string; itemHash: string; chapter: string; title: string; inventory: Inventory; hosts: string[]; params: Record<string, string>; source?: 'cli' | 'page'; runId?: string },
    run: (runId: string) => Promise<T>,
    finish: (history: History, runId: string, result: T) => void,
  ): Promise<T> {
    const runId = what.runId ?? randomUUID();
    const fp = inventoryFingerprint(what.inventory);
    const release = lockHosts(fp, what.hosts, { runId, item: what.item });
    const history = this.history();
    history.start({ id: runId, kind: what.kind, item: what.item, itemHash: what.itemHash, chapter: what.chapter, title: what.title, inventory: what.inventory.name, fingerprint: fp, profile: what.inventory.profile, targets: [...new Set(what.hosts)], params: what.params, source: what.source ?? 'cli' });
    try {
      const result = await run(runId);
      finish(history, runId, result);
      return result;
    } catch (e) {
      history.fail(runId, (e as Error).message);
      throw e;
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
    this.historyDb?.close();
    this.historyDb = undefined;
  }
}
