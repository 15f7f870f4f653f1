/** `drillbook lab … --provider vagrant`: the Vagrant lab (server/lab/vagrant.ts). */
import { spawnSync } from 'node:child_process';
import { UsageError } from '../../../src/runbook/errors.ts';
import { terminalProgress } from '../../lab/progress.ts';
import { DEFAULT_VAGRANT_LAB, vagrantDown, vagrantNodeAction, vagrantSshArgs, vagrantStatus, vagrantUp, type VagrantNodeAction, type VagrantStatus } from '../../lab/vagrant.ts';
import { c, table } from '../render.ts';

const NODE_ACTIONS = ['start', 'stop', 'crash', 'reset', 'ssh'];
const UP_ONLY = ['topology', 'nodes', 'subnet'] as const;

/** `rest`: the words after the node (`lab ssh ctl1 CMD...`). */
export async function vagrantCommand(action: string, node: string | undefined, values: Record<string, unknown>, rest: string[] = []): Promise<number> {
  const name = (values.name as string | undefined) ?? DEFAULT_VAGRANT_LAB;
  const needNode = NODE_ACTIONS.includes(action);
  if (needNode && !node) throw new UsageError(`lab ${action} needs a node name`, `drillbook lab ${action}`, `e.g. drillbook lab ${action} ctl1 --provider vagrant`);
  if (values.rebuild) throw new UsageError('--rebuild is for the local lab\'s base image', '--rebuild', 'for a fresh VM use `drillbook lab reset NODE --provider vagrant`');
  if (action !== 'up') {
    const given = UP_ONLY.filter((o) => values[o] !== undefined);
    if (given.length) throw new UsageError(`--${given[0]} only applies to lab up`, `drillbook lab ${action}`);
  }

  const progress = terminalProgress();
  const write = (chunk: string) => process.stdout.write(chunk);
  // Ctrl-C reaches vagrant as Ctrl-C: on a TTY the keystroke is forwarded,
  // otherwise SIGINT is turned into one, so vagrant can clean up.
  const ctl = new AbortController();
  const onSigint = () => ctl.abort();
  process.on('SIGINT', onSigint);
  const run = { signal: ctl.signal, interactive: !!process.stdin.isTTY };
  try {
    switch (action) {
      case 'up': {
        if (node) throw new UsageError(`unexpected argument "${node}"`, 'drillbook lab up');
        let nodes: number | undefined;
        if (values.nodes !== undefined) {
          nodes = Number(values.nodes);
          if (!Number.isInteger(nodes)) throw new UsageError(`--nodes ${String(values.nodes)}: give a whole number`, '--nodes');
        }
        await vagrantUp({ name, topology: values.topology as string | undefined, nodes, subnet: values.subnet as string | undefined, ...run }, progress, write);
        printStatus(await vagrantStatus(name), false);
        return 0;
      }
      case 'down':
        if (node) throw new UsageError(`unexpected argument "${node}"`, 'drillbook lab down');
        await vagrantDown(name, progress, write, run);
        return 0;
      case 'status': {
        if (node) throw new UsageError(`unexpected argument "${node}"`, 'drillbook lab status');
        const st = await vagrantStatus(name);
        printStatus(st, !!values.json);
        return st.lab ? 0 : 1;
      }
      case 'ssh': {
        const { cmd, args } = vagrantSshArgs(name, node!, rest);
        const r = spawnSync(cmd, args, { stdio: 'inherit' });
        return r.status ?? 1;
      }
      case 'start':
      case 'stop':
      case 'crash':
      case 'reset':
        await vagrantNodeAction(name, action as VagrantNodeAction, node!, progress, write, run);
        return 0;
      default:
        throw new UsageError(`unknown lab action "${action}"`, 'drillbook lab');
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function printStatus(st: VagrantStatus, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(st, null, 2) + '\n');
    return;
  }
  if (!st.lab) {
    process.stdout.write('no Vagrant lab: create one with `drillbook lab up --provider vagrant`\n');
    return;
  }
  const { lab } = st;
  process.stdout.write(`${c.bold(`lab ${lab.name}`)}  Vagrant (${lab.vagrantProvider ?? 'provider not known yet'})  ${lab.topology} on ${lab.subnet}\n`);
  const rows = st.nodes.map((n) => [n.name, n.address, n.groups.join(','), n.state === 'running' ? c.green(n.state) : c.dim(n.state), n.ssh ? `${n.ssh.user}@${n.ssh.host}:${n.ssh.port}` : '-']);
  process.stdout.write(table(rows, ['NODE', 'LAB ADDRESS', 'GROUPS', 'STATE', 'SSH']) + '\n');
}
