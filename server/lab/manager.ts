/**
 * Lab control for the page: status and the fixed lab actions (never a
 * command line) of the lab the server targets. One action at a time;
 * destructive ones need a confirmation naming the lab.
 */
import { Refused } from '../../src/runbook/errors.ts';
import { DEFAULT_LAB, type TargetSelection } from '../runner/session.ts';
import { labDown, labNodeAction, labStatus, labUp } from './local.ts';
import { terminalProgress } from './progress.ts';

export const LAB_ACTIONS = ['up', 'down', 'start', 'stop', 'crash', 'reset'] as const;
export type LabAction = (typeof LAB_ACTIONS)[number];
const DESTRUCTIVE: ReadonlySet<LabAction> = new Set(['down', 'crash', 'reset', 'stop']);

export interface LabStatusView {
  /** False when the server targets an inventory file rather than a lab. */
  available: boolean;
  name?: string;
  up: boolean;
  bridge?: boolean;
  guard?: boolean;
  topology?: string;
  subnet?: string;
  nodes: { name: string; address: string; groups: string[]; state: string; ssh: boolean }[];
  busy?: string;
}

export class LabManager {
  private busy?: string;
  constructor(private readonly selection: TargetSelection) {}

  get name(): string | undefined {
    return this.selection.inventory ? undefined : (this.selection.lab ?? DEFAULT_LAB);
  }

  async status(): Promise<LabStatusView> {
    const name = this.name;
    if (!name) return { available: false, up: false, nodes: [] };
    const st = await labStatus(name);
    return {
      available: true,
      name,
      up: !!st.lab && st.bridge && st.nodes.some((n) => n.state === 'running'),
      bridge: st.bridge,
      guard: st.guard,
      topology: st.lab?.topology,
      subnet: st.lab?.subnet,
      nodes: st.nodes.map((n) => ({ name: n.name, address: n.address, groups: n.groups, state: n.state, ssh: n.ssh })),
      busy: this.busy,
    };
  }

  async act(action: LabAction, node: string | undefined, confirm: string | undefined, onLine: (text: string) => void): Promise<void> {
    const name = this.name;
    if (!name) throw new Refused('this server targets an inventory file, not a lab', 'lab', 'start it with --lab NAME to control a lab from the page');
    if (this.busy) throw new Refused(`the lab is busy: ${this.busy}`, name, 'wait for it to finish');
    const needsNode = action !== 'up' && action !== 'down';
    if (needsNode && !node) throw new Refused(`lab ${action} needs a node`, name);
    if (!needsNode && node) throw new Refused(`lab ${action} takes no node`, name);
    if (DESTRUCTIVE.has(action) && confirm !== name) {
      throw new Refused(`lab ${action} needs a confirmation naming the lab "${name}"`, name, 'confirm in the dialog');
    }
    this.busy = `${action}${node ? ` ${node}` : ''}`;
    const progress = terminalProgress((s) => s.split('\n').filter(Boolean).forEach(onLine), false);
    try {
      if (action === 'up') await labUp({ name }, progress);
      else if (action === 'down') await labDown(name, progress);
      else await labNodeAction(name, action, node!, progress);
    } finally {
      this.busy = undefined;
    }
  }
}
