/**
 * A runner session: the manifest, the target inventory and its SSH pool.
 * The WebSocket handlers and the CLI both go through it, so a step runs the
 * same way from the page and from the terminal.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InventoryError, Refused, UsageError } from '../../src/runbook/errors.ts';
import { findChapter, findStep, loadManifest } from '../../src/runbook/manifest.ts';
import type { Manifest, Step } from '../../src/runbook/types.ts';
import { inventoryFingerprint, loadInventory, type Inventory } from '../inventory.ts';
import { stateDir } from '../state.ts';
import { KnownHosts } from '../transports/known-hosts.ts';
import { SshPool } from '../transports/ssh-pool.ts';
import type { Transport } from '../transports/types.ts';
import { executeStep, type ExecuteOptions } from './execute.ts';
import { planStep, type StepPlan } from './plan.ts';
import type { RunResult } from './results.ts';

export interface TargetSelection {
  inventory?: string;
  lab?: string;
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
    const step = findStep(this.manifest, globalId);
    if (!step) throw new Refused(`no step "${globalId}" in the runbook`, globalId, 'only steps written in the chapters can run');
    if (hash !== undefined && hash !== step.hash) {
      throw new Refused(`the page shows a different version of ${globalId} than the server would run`, globalId, 'rebuild the site (npm run build) and reload the page');
    }
    return step;
  }

  plan(step: Step, params: Record<string, unknown>, paramSource?: string, inv = this.inventory()): StepPlan {
    const chapter = findChapter(this.manifest, step.chapter)!;
    return planStep(step, chapter, inv, params, paramSource);
  }

  /** Confirmation for break/confirm steps: the caller must name the target inventory. */
  checkConfirmation(plan: StepPlan, confirm: string | undefined): void {
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

  run(plan: StepPlan, opts: ExecuteOptions = {}): Promise<RunResult> {
    return executeStep(plan, this.transportFor(plan.inventory), opts);
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }
}
