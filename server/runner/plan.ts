/**
 * Plan: turn a manifest step, an inventory and the reader's values into the
 * exact script each target host will run. Values are checked against their
 * declared types; only inline-safe types are written into the text, and
 * every value is also exported as an environment variable.
 */
import type { Chapter, Step } from '../../src/runbook/types.ts';
import { BUILTIN_VARS, fillTemplate, maskText, resolveVars, type ValueLayer } from '../../src/runbook/vars.ts';
import { VariableError } from '../../src/runbook/errors.ts';
import { exportLines } from '../../src/runbook/quote.ts';
import { resolveTargets, type Inventory, type InventoryHost } from '../inventory.ts';
import { LOCAL_HOST } from '../transports/local.ts';
import { own } from '../../src/runbook/own.ts';

export interface TargetPlan {
  host: InventoryHost;
  /** The full script sent to the host: strict mode, exports, the step's script. */
  script: string;
  /** The step's script with values filled in and secrets masked: what the page and --dry-run show. */
  display: string;
  /** The host filter, ready to run, if the step has one. */
  whereScript?: string;
  whereDisplay?: string;
  /** Values of the inline variables the step uses on this host (never secrets). */
  values: Record<string, string>;
}

export interface StepPlan {
  step: Step;
  inventory: Inventory;
  targets: TargetPlan[];
  /** Values to mask in every output. */
  secrets: string[];
  /** break steps and steps marked confirm need a confirmation bound to the inventory. */
  needsConfirm: boolean;
  /** The values the reader set (page or --var), secrets masked: for the run record. */
  params: Record<string, string>;
  /** Why this step will not run on this target at all (needs real VMs, the hosts are containers). */
  skip?: string;
}

export function needsConfirmation(step: Step): boolean {
  return step.kind === 'break' || step.confirm;
}

/**
 * @param params values set on the page or with --var (name -> raw value);
 *               names the chapter does not declare are refused.
 */
export function planStep(step: Step, chapter: Chapter, inv: Inventory, params: Record<string, unknown>, paramSource = '--var'): StepPlan {
  const where = `${step.file}:${step.line}`;
  const decls = { ...chapter.frontmatter.vars };
  for (const name of Object.keys(params)) {
    if (!own(decls, name)) {
      throw new VariableError(
        `chapter ${chapter.slug} has no variable "${name}"`,
        paramSource,
        Object.keys(decls).length ? `its variables: ${Object.keys(decls).join(', ')}` : 'it declares no variables',
      );
    }
  }
  // `local` (drill probes only; the extractor allows it nowhere else) is the machine running Drillbook.
  const hosts = step.on === 'local' ? [LOCAL_HOST] : resolveTargets(inv, step.on, where);
  const allSecrets = new Set<string>();
  const targets = hosts.map((host) => {
    const layers: ValueLayer[] = [
      { source: paramSource, values: params },
      { source: `${inv.file} (hosts.${host.name}.vars)`, values: host.vars },
      { source: `${inv.file} (vars)`, values: inv.vars },
    ];
    const needed = step.vars.filter((v) => own(BUILTIN_VARS, v) === undefined);
    const { values, secrets } = resolveVars(decls, layers, needed, where);
    secrets.forEach((s) => allSecrets.add(s));
    const builtins = { host: host.name, host_address: host.address, inventory: inv.name };
    const all: Record<string, string> = { ...values, ...builtins };
    const allDecls = { ...decls, ...BUILTIN_VARS };
    const body = fillTemplate(step.script, allDecls, all, where);
    const env = { ...all, DRILLBOOK_HOST: host.name, DRILLBOOK_INVENTORY: inv.name, DRILLBOOK_STEP: step.globalId };
    const prelude = `set -euo pipefail\n${exportLines(env)}\n`;
    const whereBody = step.where ? fillTemplate(step.where, allDecls, all, `${where} (where)`) : undefined;
    return {
      host,
      script: prelude + body,
      display: maskText(body, secrets),
      whereScript: whereBody === undefined ? undefined : `set -uo pipefail\n${exportLines(env)}\n${whereBody}`,
      whereDisplay: whereBody === undefined ? undefined : maskText(whereBody, secrets),
      values: Object.fromEntries(step.vars.filter((v) => own(all, v) !== undefined).map((v) => [v, all[v]])),
    };
  });
  const shownParams = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, own(decls, k)?.type === 'secret' ? '••••••' : String(v)]));
  const skip = step.needs === 'vm' && inv.containers ? `needs real VMs; the hosts of ${inv.name} are containers sharing this machine's kernel` : undefined;
  return { step, inventory: inv, targets, secrets: [...allSecrets], needsConfirm: needsConfirmation(step), params: shownParams, skip };
}
