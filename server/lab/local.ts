/**
 * The built-in local lab: systemd-nspawn nodes (systemd as PID 1) booted
 * from one read-only base image with an overlay per node, on a bridge with
 * static addresses, installing packages from a local apt repository.
 *
 * Safety: before anything is sent to a lab address, the lab subnet gets an
 * `unreachable` route with the highest metric. The bridge's own route wins
 * while the bridge exists; when it is gone (torn down, or never made) the
 * guard route makes lab traffic fail on this machine instead of following
 * the default route out.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadTopologies, nodeAddress, projectRoot } from '../../src/runbook/topology.ts';
import { exportLines } from '../../src/runbook/quote.ts';
import { loadInventory, type Inventory } from '../inventory.ts';
import { stateDir } from '../state.ts';
import { KnownHosts } from '../transports/known-hosts.ts';
import { SshPool } from '../transports/ssh-pool.ts';
import { checkRequirements, isMountpoint, LabError, run } from './host.ts';
import { ensureImage, imagePaths } from './image.ts';
import type { Progress } from './progress.ts';

export const GUARD_METRIC = 4294967295;
const NSPAWN_TMPFS = '/run/systemd/nspawn';

export interface LabNode {
  name: string;
  address: string;
  groups: string[];
}

export interface LabState {
  name: string;
  topology: string;
  subnet: string;
  bridge: string;
  nodes: LabNode[];
  /** Whether this lab mounted the nspawn tmpfs (and so may unmount it). */
  mountedNspawnTmpfs: boolean;
  /** The base image its nodes boot from (server/lab/image.ts). */
  imageKey?: string;
  createdAt: string;
}

export interface NodeStatus extends LabNode {
  state: 'running' | 'stopped';
  pid?: number;
  ssh: boolean;
}

export function labDir(name: string): string {
  return path.join(stateDir(), 'labs', name);
}

function stateFile(name: string) {
  return path.join(labDir(name), 'lab.json');
}

export function readLab(name: string): LabState | undefined {
  const f = stateFile(name);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as LabState) : undefined;
}

function writeLab(lab: LabState) {
  mkdirSync(labDir(lab.name), { recursive: true, mode: 0o700 });
  writeFileSync(stateFile(lab.name), JSON.stringify(lab, null, 2) + '\n');
}

export function bridgeName(lab: string): string {
  return `dbk-${lab}`.slice(0, 15);
}

export function defaultSubnet(): string {
  return process.env.DRILLBOOK_LAB_SUBNET ?? loadTopologies().subnet;
}

function checkSubnet(subnet: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.0\/24$/.exec(subnet);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new LabError(`bad lab subnet "${subnet}"`, '--subnet', 'give an IPv4 /24 such as 10.77.0.0/24');
  return subnet;
}

// ---------------------------------------------------------------- network

export async function guardRoutePresent(subnet: string): Promise<boolean> {
  const { stdout } = await run('ip', ['-j', 'route', 'show', 'table', 'main', 'type', 'unreachable']);
  const routes = JSON.parse(stdout || '[]') as { dst: string; metric?: number }[];
  return routes.some((r) => r.dst === subnet);
}

export async function ensureGuardRoute(subnet: string): Promise<void> {
  if (await guardRoutePresent(subnet)) return;
  await run('ip', ['route', 'add', 'unreachable', subnet, 'metric', String(GUARD_METRIC)]);
}

export async function bridgeExists(bridge: string): Promise<boolean> {
  return (await run('ip', ['link', 'show', 'dev', bridge], { allowFail: true })).code === 0;
}

async function ensureBridge(bridge: string, subnet: string): Promise<void> {
  if (!(await bridgeExists(bridge))) {
    await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${nodeAddress(subnet, 1)}/24`, 'dev', bridge]);
  }
  await run('ip', ['link', 'set', bridge, 'up']);
  // A gratuitous ARP arriving within `locktime` of the last update is ignored,
  // which would make quick VIP failovers look slow (lab-feasibility P10).
  const lock = `/proc/sys/net/ipv4/neigh/${bridge}/locktime`;
  if (existsSync(lock)) writeFileSync(lock, '0');
}

/** Refuse to touch lab nodes when the bridge is gone: their addresses would route nowhere good. */
async function requireBridge(lab: LabState): Promise<void> {
  if (!(await guardRoutePresent(lab.subnet))) await ensureGuardRoute(lab.subnet);
  if (!(await bridgeExists(lab.bridge))) {
    throw new LabError(`lab "${lab.name}" has no bridge ${lab.bridge}`, 'lab', 'bring it up with `drillbook lab up`');
  }
}

// ---------------------------------------------------------------- nodes

function nodeDir(lab: string, node: string) {
  return path.join(labDir(lab), 'nodes', node);
}

/** nspawn's machine name: unique on the host, unlike the node's host name. */
function machineName(lab: string, node: string) {
  return `${lab}-${node}`;
}

function cgroupName(lab: string, node: string) {
  return `drillbook-${lab}-${node}`;
}

function readPid(lab: string, node: string): number | undefined {
  const f = path.join(nodeDir(lab, node), 'pid');
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8').trim());
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** The nspawn process of a node, only if that pid still is this node's nspawn. */
export function nspawnPid(lab: string, node: string): number | undefined {
  const pid = readPid(lab, node);
  if (!pid) return undefined;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (cmd.some((a) => a.endsWith('systemd-nspawn')) && cmd.includes(`--machine=${machineName(lab, node)}`) && cmd.some((a) => a.startsWith(`--directory=${nodeDir(lab, node)}`))) return pid;
  } catch {
    /* gone */
  }
  return undefined;
}

/** The node's PID 1 (systemd), the only child of its nspawn process. */
export function leaderPid(nspawn: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${nspawn}/task/${nspawn}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return kids[0];
  } catch {
    return undefined;
  }
}

async function prepareNode(lab: LabState, node: LabNode, base: string, keyFile: string): Promise<string> {
  const d = nodeDir(lab.name, node.name);
  const root = path.join(d, 'root');
  for (const sub of ['upper', 'work', 'root']) mkdirSync(path.join(d, sub), { recursive: true });
  if (!isMountpoint(root)) {
    await run('mount', ['-t', 'overlay', `drillbook-${lab.name}-${node.name}`, '-o', `lowerdir=${base},upperdir=${path.join(d, 'upper')},workdir=${path.join(d, 'work')}`, root]);
  }
  const etc = path.join(root, 'etc');
  writeFileSync(path.join(etc, 'hostname'), `${node.name}\n`);
  writeFileSync(path.join(etc, 'hosts'), ['127.0.0.1 localhost', ...lab.nodes.map((n) => `${n.address} ${n.name}`)].join('\n') + '\n');
  mkdirSync(path.join(etc, 'systemd/network'), { recursive: true });
  writeFileSync(path.join(etc, 'systemd/network/10-host0.network'), `[Match]\nName=host0\n[Network]\nAddress=${node.address}/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`);
  const ssh = path.join(root, 'root/.ssh');
  mkdirSync(ssh, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(ssh, 'authorized_keys'), readFileSync(`${keyFile}.pub`), { mode: 0o600 });
  if (!existsSync(path.join(etc, 'ssh/ssh_host_ed25519_key'))) await run('ssh-keygen', ['-q', '-A', '-f', root]);
  if (!readFileSync(path.join(etc, 'machine-id'), 'utf8').trim()) {
    writeFileSync(path.join(etc, 'machine-id'), (await run('systemd-id128', ['new'])).stdout);
  }
  return readFileSync(path.join(etc, 'ssh/ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
}

function bootNode(lab: LabState, node: LabNode, repo: string): number {
  const d = nodeDir(lab.name, node.name);
  const child = spawn('bash', [path.join(projectRoot(), 'labs/nspawn/boot-node.sh'), node.name, machineName(lab.name, node.name), path.join(d, 'root'), lab.bridge, repo, path.join(d, 'console.log'), cgroupName(lab.name, node.name)], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  writeFileSync(path.join(d, 'pid'), `${child.pid}\n`);
  return child.pid!;
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new LabError(`${what} did not happen within ${Math.round(timeoutMs / 1000)} s`, 'lab');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** True when the node's sshd sends its banner. */
export function sshAnswers(address: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(22, address);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('data', (d) => done(d.toString().startsWith('SSH-')));
    s.once('error', () => done(false));
  });
}

async function stopNode(lab: LabState, node: string, how: 'poweroff' | 'kill'): Promise<void> {
  const pid = nspawnPid(lab.name, node);
  if (!pid) return;
  if (how === 'kill') {
    const leader = leaderPid(pid);
    process.kill(leader ?? pid, 'SIGKILL');
  } else {
    // SIGTERM to nspawn: it asks the node's systemd for an orderly poweroff.
    process.kill(pid, 'SIGTERM');
  }
  try {
    await waitFor(() => !nspawnPid(lab.name, node), how === 'kill' ? 10_000 : 60_000, `${node} stopping`);
  } catch {
    const still = nspawnPid(lab.name, node);
    if (still) {
      const leader = leaderPid(still);
      if (leader) process.kill(leader, 'SIGKILL');
      process.kill(still, 'SIGKILL');
      await waitFor(() => !nspawnPid(lab.name, node), 10_000, `${node} being killed`);
    }
  }
}

function removeCgroups(lab: string, node: string): void {
  const name = cgroupName(lab, node);
  const dirs: string[] = [];
  const visit = (dir: string, depth: number) => {
    if (depth > 4 || !existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === name) dirs.push(p);
      else visit(p, depth + 1);
    }
  };
  visit('/sys/fs/cgroup', 0);
  for (const d of dirs) {
    try {
      execFileSync('find', [d, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', '+'], { stdio: 'ignore' });
    } catch {
      /* a busy cgroup stays; it is empty of our processes once the node stopped */
    }
  }
}

// ---------------------------------------------------------------- inventory

export function labInventoryPath(name: string): string {
  return path.join(labDir(name), 'inventory.yaml');
}

function writeInventory(lab: LabState, hostKeys: Record<string, string>): void {
  const topo = loadTopologies();
  const groups: Record<string, string[]> = {};
  for (const n of lab.nodes) for (const g of n.groups) (groups[g] ??= []).push(n.name);
  const vars: Record<string, string> = { lab_subnet: lab.subnet };
  for (const [k, octet] of Object.entries(topo.vips)) vars[k] = nodeAddress(lab.subnet, octet);
  const doc = {
    name: lab.name,
    profile: 'lab',
    description: `Local lab (${lab.topology}) on bridge ${lab.bridge}, ${lab.subnet}`,
    containers: true,
    defaults: { user: 'root', port: 22, key: 'lab_key', connectTimeout: 5 },
    hosts: Object.fromEntries(lab.nodes.map((n) => [n.name, { address: n.address, ...(hostKeys[n.name] ? { hostKey: hostKeys[n.name] } : {}) }])),
    groups,
    vars,
  };
  writeFileSync(labInventoryPath(lab.name), `# Written by \`drillbook lab up\`; rewritten on every up.\n${stringify(doc, { lineWidth: 0 })}`);
  writeFileSync(path.join(labDir(lab.name), 'known_hosts'), lab.nodes.filter((n) => hostKeys[n.name]).map((n) => `${n.address} ${hostKeys[n.name]}`).join('\n') + '\n');
}

function readHostKey(lab: string, node: string): string | undefined {
  const f = path.join(nodeDir(lab, node), 'root/etc/ssh/ssh_host_ed25519_key.pub');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split(' ').slice(0, 2).join(' ') : undefined;
}

// ---------------------------------------------------------------- provisioning

async function provision(lab: LabState, inv: Inventory, progress: Progress, only?: string[]): Promise<void> {
  const script = readFileSync(path.join(projectRoot(), 'labs/provision/common.sh'), 'utf8');
  const hosts = lab.nodes.map((n) => `${n.address} ${n.name}`).join('\n');
  const pool = new SshPool({ hosts: inv.hosts, knownHosts: new KnownHosts(path.join(labDir(lab.name), 'known_hosts'), 'strict'), connectTimeoutMs: inv.connectTimeoutMs });
  try {
    const targets = lab.nodes.filter((n) => !only || only.includes(n.name));
    await Promise.all(
      targets.map(async (n) => {
        let out = '';
        const env = exportLines({ DRILLBOOK_NODE: n.name, DRILLBOOK_HOSTS: hosts });
        const ctl = new AbortController();
        const timer = setTimeout(() => ctl.abort(), 300_000);
        const r = await pool.run(inv.hosts[n.name], `${env}\n${script}`, { onStdout: (d) => (out += d), onStderr: (d) => (out += d), signal: ctl.signal });
        clearTimeout(timer);
        if (r.kind !== 'exit' || r.code !== 0) {
          throw new LabError(`provisioning ${n.name} failed (${r.kind === 'exit' ? `exit ${r.code}` : r.kind}):\n    ${out.trim().split('\n').slice(-6).join('\n    ')}`, 'labs/provision/common.sh');
        }
        progress.line(out.trim().split('\n').at(-1) ?? `${n.name} provisioned`);
      }),
    );
  } finally {
    await pool.close();
  }
}

// ---------------------------------------------------------------- commands

export interface UpOptions {
  name?: string;
  topology?: string;
  nodes?: number;
  subnet?: string;
  rebuild?: boolean;
}

export async function labUp(opts: UpOptions, progress: Progress): Promise<LabState> {
  checkRequirements();
  const name = opts.name ?? 'local';
  const existing = readLab(name);
  const topoName = opts.topology ?? existing?.topology ?? 'infra3';
  const topologies = loadTopologies();
  const topo = topologies.topologies[topoName];
  if (!topo) throw new LabError(`no topology "${topoName}"`, '--topology', `known: ${Object.keys(topologies.topologies).join(', ')} (labs/topologies.yaml)`);
  const subnet = checkSubnet(opts.subnet ?? existing?.subnet ?? defaultSubnet());
  let nodes = Object.entries(topo.nodes).map(([n, v]) => ({ name: n, address: nodeAddress(subnet, v.octet), groups: v.groups }));
  if (opts.nodes !== undefined) {
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > nodes.length) throw new LabError(`--nodes must be 1-${nodes.length} for topology ${topoName}`, '--nodes');
    nodes = nodes.slice(0, opts.nodes);
  }
  if (existing && (existing.topology !== topoName || existing.subnet !== subnet || existing.nodes.length !== nodes.length)) {
    const running = existing.nodes.filter((n) => nspawnPid(name, n.name));
    if (running.length) throw new LabError(`lab "${name}" is running as ${existing.topology} with ${existing.nodes.length} nodes on ${existing.subnet}`, 'lab up', 'run `drillbook lab down` first to change its shape');
  }

  // The guard comes first: nothing is sent to a lab address before it exists.
  await ensureGuardRoute(subnet);
  // nspawn only cleans up its propagation dirs on tmpfs (lab-feasibility P1).
  let mountedNspawnTmpfs = existing?.mountedNspawnTmpfs ?? false;
  mkdirSync(NSPAWN_TMPFS, { recursive: true });
  if (!isMountpoint(NSPAWN_TMPFS)) {
    await run('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'drillbook-nspawn', NSPAWN_TMPFS]);
    mountedNspawnTmpfs = true;
  }

  for (const other of existsSync(path.join(stateDir(), 'labs')) ? readdirSync(path.join(stateDir(), 'labs')) : []) {
    const o = other === name ? undefined : readLab(other);
    if (o && o.subnet === subnet && (await bridgeExists(o.bridge))) {
      throw new LabError(`subnet ${subnet} is in use by lab "${other}"`, '--subnet', 'give this lab another /24 with --subnet, or take the other one down');
    }
  }

  // A bridge of this name that no lab in this state directory owns belongs to
  // someone else (another state dir, another user): never adopt it.
  if (!existing && (await bridgeExists(bridgeName(name)))) {
    // An idle bridge (no node attached) is what a lab leaves behind when its
    // processes were killed without `lab down`: safe to reuse. One with
    // nodes on it belongs to a lab of another state directory.
    const { stdout } = await run('ip', ['-j', 'link', 'show', 'master', bridgeName(name)]);
    if ((JSON.parse(stdout || '[]') as unknown[]).length > 0) {
      throw new LabError(`a bridge ${bridgeName(name)} with nodes on it already exists but lab "${name}" is not recorded in ${labDir(name)}`, 'lab up', 'another Drillbook state directory (DRILLBOOK_STATE_DIR) may own it: take that lab down first, or use --name and --subnet');
    }
    progress.line(`reusing the idle bridge ${bridgeName(name)} left behind by an earlier lab`);
  }

  const image = await ensureImage(progress, { rebuild: opts.rebuild });

  progress.phase(`network: guard route and bridge for ${subnet}`);
  // A lab with running nodes keeps the image they booted from (their overlays
  // sit on it) until it is taken down; a new lab uses the current image.
  const keepImage = existing?.imageKey && existing.nodes.some((n) => nspawnPid(name, n.name)) ? existing.imageKey : undefined;
  const lab: LabState = { name, topology: topoName, subnet, bridge: bridgeName(name), nodes, mountedNspawnTmpfs, imageKey: keepImage ?? image.key, createdAt: existing?.createdAt ?? new Date().toISOString() };
  const { base } = imagePaths(lab.imageKey);
  writeLab(lab);
  await ensureBridge(lab.bridge, subnet);

  const keyFile = path.join(labDir(name), 'lab_key');
  if (!existsSync(keyFile)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `drillbook-lab-${name}`, '-f', keyFile]);

  progress.phase(`nodes: booting ${nodes.map((n) => n.name).join(', ')}`);
  const hostKeys: Record<string, string> = {};
  for (const n of nodes) {
    if (nspawnPid(name, n.name)) {
      hostKeys[n.name] = readHostKey(name, n.name)!;
      continue;
    }
    hostKeys[n.name] = await prepareNode(lab, n, base, keyFile);
    bootNode(lab, n, imagePaths(lab.imageKey).repo);
  }
  writeInventory(lab, hostKeys);
  const t0 = Date.now();
  await Promise.all(
    nodes.map(async (n) => {
      await waitFor(() => sshAnswers(n.address), 120_000, `${n.name} (${n.address}) answering SSH`).catch((e) => {
        const log = path.join(nodeDir(name, n.name), 'console.log');
        throw new LabError(`${(e as Error).message}`, n.name, `see ${log}`);
      });
      progress.line(`${n.name} ${n.address} answers SSH (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }),
  );

  progress.phase('provisioning: labs/provision/common.sh on every node');
  const inv = loadInventory(labInventoryPath(name));
  await provision(lab, inv, progress);
  progress.phase(`lab "${name}" is up: ${labInventoryPath(name)}`);
  return lab;
}

export async function labStatus(name = 'local'): Promise<{ lab?: LabState; bridge: boolean; guard: boolean; nodes: NodeStatus[] }> {
  const lab = readLab(name);
  if (!lab) return { bridge: false, guard: false, nodes: [] };
  const bridge = await bridgeExists(lab.bridge);
  const guard = await guardRoutePresent(lab.subnet);
  const nodes = await Promise.all(
    lab.nodes.map(async (n) => {
      const pid = nspawnPid(name, n.name);
      return { ...n, state: pid ? ('running' as const) : ('stopped' as const), pid, ssh: pid && bridge && guard ? await sshAnswers(n.address) : false };
    }),
  );
  return { lab, bridge, guard, nodes };
}

function requireLab(name: string): LabState {
  const lab = readLab(name);
  if (!lab) throw new LabError(`there is no lab "${name}"`, 'lab', 'create it with `drillbook lab up`');
  return lab;
}

function requireNode(lab: LabState, node: string): LabNode {
  const n = lab.nodes.find((x) => x.name === node);
  if (!n) throw new LabError(`lab "${lab.name}" has no node "${node}"`, node, `nodes: ${lab.nodes.map((x) => x.name).join(', ')}`);
  return n;
}

export async function labNodeAction(name: string, action: 'start' | 'stop' | 'crash' | 'reset', node: string, progress: Progress): Promise<void> {
  checkRequirements();
  const lab = requireLab(name);
  const n = requireNode(lab, node);
  await requireBridge(lab);
  const { base, repo } = imagePaths(lab.imageKey);
  switch (action) {
    case 'stop':
      await stopNode(lab, node, 'poweroff');
      progress.line(`${node} stopped`);
      return;
    case 'crash':
      if (!nspawnPid(name, node)) throw new LabError(`${node} is not running`, node);
      await stopNode(lab, node, 'kill');
      progress.line(`${node} crashed (its PID 1 was killed)`);
      return;
    case 'start':
    case 'reset': {
      if (action === 'reset') {
        await stopNode(lab, node, 'kill');
        const d = nodeDir(name, node);
        if (isMountpoint(path.join(d, 'root'))) await run('umount', [path.join(d, 'root')]);
        rmSync(path.join(d, 'upper'), { recursive: true, force: true });
        rmSync(path.join(d, 'work'), { recursive: true, force: true });
        removeCgroups(name, node);
      } else if (nspawnPid(name, node)) {
        progress.line(`${node} is already running`);
        return;
      }
      const hostKey = await prepareNode(lab, n, base, path.join(labDir(name), 'lab_key'));
      removeCgroups(name, node);
      bootNode(lab, n, repo);
      const keys = Object.fromEntries(lab.nodes.map((x) => [x.name, x.name === node ? hostKey : readHostKey(name, x.name) ?? '']));
      writeInventory(lab, keys);
      await waitFor(() => sshAnswers(n.address), 120_000, `${node} answering SSH`);
      if (action === 'reset') await provision(lab, loadInventory(labInventoryPath(name)), progress, [node]);
      progress.line(`${node} is back (${action})`);
      return;
    }
  }
}

export async function labDown(name: string, progress: Progress): Promise<void> {
  checkRequirements();
  const lab = requireLab(name);
  progress.phase(`stopping ${lab.nodes.map((n) => n.name).join(', ')}`);
  await Promise.all(lab.nodes.map((n) => stopNode(lab, n.name, 'poweroff')));
  for (const n of lab.nodes) {
    const root = path.join(nodeDir(name, n.name), 'root');
    if (isMountpoint(root)) await run('umount', [root]);
    removeCgroups(name, n.name);
  }
  rmSync(path.join(labDir(name), 'nodes'), { recursive: true, force: true });
  if (await bridgeExists(lab.bridge)) await run('ip', ['link', 'del', lab.bridge]);
  const others = readdirSync(path.join(stateDir(), 'labs')).filter((l) => l !== name && readLab(l));
  if (lab.mountedNspawnTmpfs && !others.length && isMountpoint(NSPAWN_TMPFS)) await run('umount', [NSPAWN_TMPFS], { allowFail: true });
  rmSync(labInventoryPath(name), { force: true });
  rmSync(path.join(labDir(name), 'known_hosts'), { force: true });
  rmSync(stateFile(name), { force: true });
  progress.phase(`lab "${name}" is down; the guard route for ${lab.subnet} stays, so its addresses keep failing locally`);
}

/** Open `ssh` to a node (interactive when no command is given). */
export function labSshArgs(name: string, node: string, command: string[]): { cmd: string; args: string[] } {
  const lab = requireLab(name);
  const n = requireNode(lab, node);
  return {
    cmd: 'ssh',
    args: ['-i', path.join(labDir(name), 'lab_key'), '-o', `UserKnownHostsFile=${path.join(labDir(name), 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR', ...(command.length ? [] : ['-t']), `root@${n.address}`, ...command],
  };
}

export async function labSshPreflight(name: string): Promise<void> {
  await requireBridge(requireLab(name));
}


/** What `lab up|down|start|stop|crash|reset` would do, without doing it (--dry-run). */
export async function labPlan(name: string, action: string, opts: UpOptions & { node?: string }): Promise<string[]> {
  const lab = readLab(name);
  const out: string[] = [];
  if (action === 'up') {
    const topoName = opts.topology ?? lab?.topology ?? 'infra3';
    const topo = loadTopologies().topologies[topoName];
    if (!topo) throw new LabError(`no topology "${topoName}"`, '--topology');
    const subnet = checkSubnet(opts.subnet ?? lab?.subnet ?? defaultSubnet());
    const { imageIsCurrent, imagePaths: paths } = await import('./image.ts');
    out.push(imageIsCurrent() ? `use the cached base image ${paths().dir}` : `build the base image (debootstrap + the closure of labs/packages.txt) into ${paths().dir}`);
    out.push((await guardRoutePresent(subnet)) ? `guard route for ${subnet}: present` : `add the guard route: ip route add unreachable ${subnet} metric ${GUARD_METRIC}`);
    out.push((await bridgeExists(bridgeName(name))) ? `bridge ${bridgeName(name)}: present` : `create bridge ${bridgeName(name)} with ${nodeAddress(subnet, 1)}/24`);
    let nodes = Object.entries(topo.nodes);
    if (opts.nodes !== undefined) nodes = nodes.slice(0, opts.nodes);
    for (const [n, v] of nodes) out.push(nspawnPid(name, n) ? `${n} ${nodeAddress(subnet, v.octet)}: running (pid ${nspawnPid(name, n)}), left as it is` : `boot ${n} at ${nodeAddress(subnet, v.octet)} (${v.groups.join(', ')}), wait for SSH, run labs/provision/common.sh`);
    out.push(`write the inventory ${labInventoryPath(name)}`);
    return out;
  }
  if (!lab) throw new LabError(`there is no lab "${name}"`, 'lab', 'create it with `drillbook lab up`');
  if (action === 'down') {
    for (const n of lab.nodes) out.push(nspawnPid(name, n.name) ? `stop ${n.name} (pid ${nspawnPid(name, n.name)}) with an orderly poweroff, unmount its overlay, remove its cgroups` : `${n.name}: not running; unmount and remove what is left`);
    out.push(`delete bridge ${lab.bridge}; keep the guard route for ${lab.subnet}`, `remove ${labDir(name)}/nodes and the inventory`);
    return out;
  }
  const node = lab.nodes.find((n) => n.name === opts.node);
  if (!node) throw new LabError(`lab "${name}" has no node "${opts.node}"`, opts.node ?? 'lab');
  const pid = nspawnPid(name, node.name);
  const what: Record<string, string> = {
    start: pid ? `${node.name} is already running (pid ${pid}): nothing to do` : `boot ${node.name} at ${node.address} from its overlay and wait for SSH`,
    stop: pid ? `stop ${node.name} (pid ${pid}) with an orderly poweroff` : `${node.name} is not running: nothing to do`,
    crash: pid ? `SIGKILL the PID 1 of ${node.name} (its nspawn pid ${pid}), as a power cut would` : `${node.name} is not running: refused`,
    reset: `kill ${node.name}${pid ? ` (pid ${pid})` : ''}, delete its overlay (every change made on it), boot it fresh and provision it`,
  };
  out.push(what[action]);
  return out;
}
