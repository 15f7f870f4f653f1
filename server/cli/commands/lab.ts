/** `drillbook lab`: the local lab (systemd-nspawn) or the Vagrant lab. */
import { spawnSync } from 'node:child_process';
import { UsageError } from '../../../src/runbook/errors.ts';
import { terminalProgress } from '../../lab/progress.ts';
import { labDown, labNodeAction, labPlan, labSshArgs, labSshPreflight, labStatus, labUp } from '../../lab/local.ts';
import { c, table } from '../render.ts';

const ACTIONS = ['up', 'down', 'status', 'start', 'stop', 'crash', 'reset', 'ssh'] as const;

export async function labCommand(args: string[], values: Record<string, unknown>): Promise<number> {
  const [action, node, ...rest] = args;
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown lab action "${action}"`, 'drillbook lab', `actions: ${ACTIONS.join(', ')}`);
  const name = (values.name as string | undefined) ?? 'local';
  const provider = (values.provider as string | undefined) ?? 'local';
  if (provider !== 'local' && provider !== 'vagrant') throw new UsageError(`unknown provider "${provider}"`, '--provider', 'local or vagrant');
  if (provider === 'vagrant') return (await import('./lab-vagrant.ts')).vagrantCommand(action, node, values, rest);
  const progress = terminalProgress();
  const needNode = ['start', 'stop', 'crash', 'reset', 'ssh'].includes(action);
  if (needNode && !node) throw new UsageError(`lab ${action} needs a node name`, `drillbook lab ${action}`, 'e.g. drillbook lab crash ctl1');
  if (!needNode && node) throw new UsageError(`unexpected argument "${node}"`, `drillbook lab ${action}`);

  if (values['dry-run'] && !['status', 'ssh'].includes(action)) {
    const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
    const lines = await labPlan(name, action, { topology: values.topology as string | undefined, nodes, subnet: values.subnet as string | undefined, node });
    process.stdout.write(c.dim(`dry run: lab ${action}${node ? ` ${node}` : ''} on "${name}" would\n`) + lines.map((l) => `  - ${l}\n`).join(''));
    return 0;
  }
  switch (action) {
    case 'up': {
      const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
      await labUp({ name, topology: values.topology as string | undefined, nodes, subnet: values.subnet as string | undefined, rebuild: !!values.rebuild }, progress);
      printStatus(await labStatus(name), false);
      return 0;
    }
    case 'down':
      await labDown(name, progress);
      return 0;
    case 'status': {
      const st = await labStatus(name);
      printStatus(st, !!values.json);
      return st.lab ? 0 : 1;
    }
    case 'ssh': {
      await labSshPreflight(name);
      const { cmd, args: sshArgs } = labSshArgs(name, node, rest);
      const r = spawnSync(cmd, sshArgs, { stdio: 'inherit' });
      return r.status ?? 1;
    }
    default:
      await labNodeAction(name, action as 'start' | 'stop' | 'crash' | 'reset', node, progress);
      return 0;
  }
}

function printStatus(st: Awaited<ReturnType<typeof labStatus>>, json: boolean) {
  if (json) {
    process.stdout.write(JSON.stringify(st, null, 2) + '\n');
    return;
  }
  if (!st.lab) {
    process.stdout.write('no lab: create one with `drillbook lab up`\n');
    return;
  }
  const { lab } = st;
  process.stdout.write(`${c.bold(`lab ${lab.name}`)}  ${lab.topology} on ${lab.bridge} ${lab.subnet}  bridge ${st.bridge ? c.green('up') : c.red('missing')}  guard route ${st.guard ? c.green('present') : c.red('missing')}\n`);
  const rows = st.nodes.map((n) => [n.name, n.address, n.groups.join(','), n.state === 'running' ? c.green('running') : c.dim('stopped'), n.ssh ? c.green('answers') : c.dim('no'), n.pid ? String(n.pid) : '-']);
  process.stdout.write(table(rows, ['NODE', 'ADDRESS', 'GROUPS', 'STATE', 'SSH', 'PID']) + '\n');
}
