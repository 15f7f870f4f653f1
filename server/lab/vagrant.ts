/**
 * The Vagrant lab: the topology of labs/topologies.yaml as libvirt or
 * VirtualBox VMs, defined by the repository's Vagrantfile and provisioned
 * by labs/provision/common.sh, the script the local lab runs.
 *
 * `vagrant up` runs in a pseudo-terminal so its output (colours, box
 * download progress) streams as it would in a shell. Afterwards the runner's
 * inventory is written from `vagrant ssh-config`, so `drillbook run … --lab
 * NAME` reaches the VMs the same way it reaches the local lab: as root (the
 * Vagrantfile authorizes each machine's Vagrant key for root), with the same
 * host names, groups and variables (lab_subnet, the VIPs).
 *
 * Each lab keeps its own Vagrant machine state (VAGRANT_DOTFILE_PATH) under
 * the state directory, next to its inventory, so labs with different names
 * do not share machines.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pty from 'node-pty';
import { stringify } from 'yaml';
import { loadTopologies, nodeAddress, projectRoot } from '../../src/runbook/topology.ts';
import { parseInventory } from '../inventory.ts';
import { labInventoryFile } from '../runner/session.ts';
import { LabError, which } from './host.ts';
import type { Progress } from './progress.ts';

// ---------------------------------------------------------------- types

/** A node as the Vagrantfile resolves it (`DRILLBOOK_TOPOLOGY_JSON`). */
export interface VagrantPlanNode {
  name: string;
  address: string;
  groups: string[];
  memory: number;
  cpus: number;
  nested: boolean;
  disks: { size_gib: number; format: string }[];
}

export interface VagrantPlan {
  lab: string;
  topology: string;
  subnet: string;
  vips: Record<string, string>;
  nodes: VagrantPlanNode[];
}

/** One `Host` block of `vagrant ssh-config`. */
export interface SshConfigEntry {
  host: string;
  hostName: string;
  port: number;
  user: string;
  identityFiles: string[];
  /** Set when Vagrant reaches the machine through a proxy (e.g. a remote libvirt host). */
  proxyCommand?: string;
}

export interface VagrantLabNode {
  name: string;
  address: string;
  groups: string[];
}

export interface VagrantLabState {
  name: string;
  provider: 'vagrant';
  topology: string;
  subnet: string;
  /** `--nodes N`: only the first N nodes of the topology. */
  nodeLimit?: number;
  nodes: VagrantLabNode[];
  /** The Vagrant provider the machines run on (libvirt, virtualbox), once known. */
  vagrantProvider?: string;
  /** How to reach each node, from `vagrant ssh-config` (kept for nodes that are down). */
  ssh: Record<string, SshConfigEntry>;
  /** Each node's ed25519 host key, read over Vagrant's own SSH channel. */
  hostKeys: Record<string, string>;
  createdAt: string;
}

export interface VagrantUpOptions {
  name?: string;
  topology?: string;
  nodes?: number;
  subnet?: string;
  /** Interrupts vagrant the way Ctrl-C would (it then cleans up and stops). */
  signal?: AbortSignal;
  /** Forward this terminal's keystrokes to vagrant (the CLI on a TTY). */
  interactive?: boolean;
}

export type OutputSink = (chunk: string) => void;

export const DEFAULT_VAGRANT_LAB = 'vagrant';
const TOPOLOGY_MARK = 'DRILLBOOK_TOPOLOGY_JSON ';
const PROVIDER_HINT = 'Vagrant needs a provider: libvirt (apt-get install -y --no-install-recommends vagrant-libvirt libvirt-daemon-system qemu-system-x86) or VirtualBox';
const INSTALL_HINT = `install it: apt-get install -y --no-install-recommends vagrant. ${PROVIDER_HINT}`;

// ---------------------------------------------------------------- pure parts

/**
 * Parse `vagrant ssh-config` output: one entry per `Host` block with its
 * HostName, Port, User, IdentityFile(s) and ProxyCommand. Keywords are
 * case-insensitive, `Key value` or `Key=value`; values may be double-quoted
 * (Vagrant quotes key paths that contain spaces). Lines before the first
 * `Host` (warnings Vagrant prints) are ignored.
 */
export function parseSshConfig(text: string): SshConfigEntry[] {
  const entries: SshConfigEntry[] = [];
  let cur: { host: string; hostName?: string; port?: number; user?: string; identityFiles: string[]; proxyCommand?: string } | undefined;
  const finish = () => {
    if (!cur) return;
    if (!cur.hostName) throw new LabError(`vagrant ssh-config gave host "${cur.host}" no HostName`, 'vagrant ssh-config', 'run `vagrant ssh-config` in the project folder to see what Vagrant reports');
    entries.push({ host: cur.host, hostName: cur.hostName, port: cur.port ?? 22, user: cur.user ?? 'vagrant', identityFiles: cur.identityFiles, ...(cur.proxyCommand ? { proxyCommand: cur.proxyCommand } : {}) });
    cur = undefined;
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z]+)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1].toLowerCase();
    const value = unquote(m[2].trim());
    if (key === 'host') {
      finish();
      cur = { host: value, identityFiles: [] };
      continue;
    }
    if (!cur) continue;
    switch (key) {
      case 'hostname':
        cur.hostName = value;
        break;
      case 'port': {
        const port = Number(value);
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LabError(`vagrant ssh-config gave host "${cur.host}" a bad port "${value}"`, 'vagrant ssh-config');
        cur.port = port;
        break;
      }
      case 'user':
        cur.user = value;
        break;
      case 'identityfile':
        cur.identityFiles.push(value);
        break;
      case 'proxycommand':
        cur.proxyCommand = value;
        break;
    }
  }
  finish();
  return entries;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** The runner inventory for a Vagrant lab, as a YAML-ready object (the local lab's shape). */
export function buildVagrantInventory(
  lab: Pick<VagrantLabState, 'name' | 'topology' | 'subnet' | 'nodes' | 'vagrantProvider'>,
  ssh: SshConfigEntry[] | Record<string, SshConfigEntry>,
  vips: Record<string, number>,
  hostKeys: Record<string, string> = {},
): Record<string, unknown> {
  const byHost = Array.isArray(ssh) ? Object.fromEntries(ssh.map((e) => [e.host, e])) : ssh;
  const hosts: Record<string, Record<string, unknown>> = {};
  for (const n of lab.nodes) {
    const e = Object.hasOwn(byHost, n.name) ? byHost[n.name] : undefined;
    if (!e) throw new LabError(`vagrant ssh-config has no entry for ${n.name}`, n.name, `is it running? see \`${labCmd('status', lab.name)}\``);
    if (e.proxyCommand) {
      throw new LabError(`Vagrant reaches ${n.name} through a ProxyCommand (${e.proxyCommand}), which Drillbook's SSH client cannot use`, n.name, 'run Drillbook on the machine that hosts the VMs');
    }
    if (!e.identityFiles.length) throw new LabError(`vagrant ssh-config gives ${n.name} no IdentityFile`, n.name, 'Drillbook logs in with the machine\'s Vagrant key; keep config.ssh.insert_key at its default');
    hosts[n.name] = {
      address: e.hostName,
      port: e.port,
      key: e.identityFiles[0],
      ...(hostKeys[n.name] ? { hostKey: hostKeys[n.name] } : {}),
      // The node's address on the lab network (what `hostname -i` and the
      // other nodes see); `address` above is how this machine reaches it.
      vars: { lab_address: n.address },
    };
  }
  const groups: Record<string, string[]> = {};
  for (const n of lab.nodes) for (const g of n.groups) (groups[g] ??= []).push(n.name);
  const vars: Record<string, string> = { lab_subnet: lab.subnet };
  for (const [k, octet] of Object.entries(vips)) vars[k] = nodeAddress(lab.subnet, octet);
  return {
    name: lab.name,
    profile: 'lab',
    description: `Vagrant lab (${lab.topology}${lab.vagrantProvider ? `, ${lab.vagrantProvider}` : ''}) on ${lab.subnet}`,
    // Steps run as root, as on the local lab: the Vagrantfile authorizes the
    // machine's Vagrant key for root (ssh-config's User is `vagrant`).
    defaults: { user: 'root', port: 22, connectTimeout: 10 },
    hosts,
    groups,
    vars,
  };
}

/** The inventory file's text; checked against the inventory schema before anyone reads it. */
export function vagrantInventoryText(doc: Record<string, unknown>, file = 'inventory.yaml'): string {
  const text = `# Written by \`drillbook lab up --provider vagrant\` from \`vagrant ssh-config\`; rewritten on every up.\n${stringify(doc, { lineWidth: 0 })}`;
  parseInventory(text, file);
  return text;
}

/** The topology line the Vagrantfile prints with DRILLBOOK_PRINT_TOPOLOGY=1. */
export function parseTopologyLine(stdout: string): VagrantPlan {
  const line = stdout.split(/\r?\n/).find((l) => l.startsWith(TOPOLOGY_MARK));
  if (!line) throw new LabError('the Vagrantfile printed no topology line', 'Vagrantfile', `expected a line starting with "${TOPOLOGY_MARK.trim()}" with DRILLBOOK_PRINT_TOPOLOGY=1`);
  return JSON.parse(line.slice(TOPOLOGY_MARK.length)) as VagrantPlan;
}

export interface MachineStatus {
  name: string;
  provider?: string;
  /** Vagrant's state id: running, poweroff (VirtualBox), shutoff (libvirt), not_created, ... */
  state: string;
  description?: string;
}

/** Parse `vagrant status --machine-readable` (timestamp,target,type,data...). */
export function parseMachineReadableStatus(text: string): MachineStatus[] {
  const out = new Map<string, MachineStatus>();
  const unescape = (s: string) => s.replaceAll('%!(VAGRANT_COMMA)', ',').replaceAll('\\n', '\n').replaceAll('\\r', '\r');
  for (const line of text.split(/\r?\n/)) {
    const parts = line.split(',');
    if (parts.length < 4 || !/^\d+$/.test(parts[0]) || !parts[1]) continue;
    const [, target, type, ...data] = parts;
    const m = out.get(target) ?? { name: target, state: 'unknown' };
    if (type === 'provider-name') m.provider = unescape(data[0]);
    else if (type === 'state') m.state = unescape(data[0]);
    else if (type === 'state-human-long') m.description = unescape(data.join(',')).trim();
    else continue;
    out.set(target, m);
  }
  return [...out.values()];
}

/** Environment for every vagrant command of a lab: the same Vagrantfile inputs each time. */
export function vagrantEnv(lab: Pick<VagrantLabState, 'name' | 'topology' | 'subnet' | 'nodeLimit'>, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  // Inputs the Vagrantfile reads: set from the lab, never inherited by accident.
  for (const k of ['DRILLBOOK_NODES', 'DRILLBOOK_PRINT_TOPOLOGY', 'VAGRANT_VAGRANTFILE']) delete env[k];
  Object.assign(env, {
    DRILLBOOK_LAB_NAME: lab.name,
    DRILLBOOK_TOPOLOGY: lab.topology,
    DRILLBOOK_LAB_SUBNET: lab.subnet,
    VAGRANT_CWD: projectRoot(),
    VAGRANT_DOTFILE_PATH: vagrantDotfileDir(lab.name),
  });
  if (lab.nodeLimit !== undefined) env.DRILLBOOK_NODES = String(lab.nodeLimit);
  return env;
}

// ---------------------------------------------------------------- state

function labDirOf(name: string): string {
  return path.dirname(labInventoryFile(name));
}

function stateFile(name: string): string {
  return path.join(labDirOf(name), 'vagrant.json');
}

/** Vagrant's machine state for this lab (VAGRANT_DOTFILE_PATH). */
export function vagrantDotfileDir(name: string): string {
  return path.join(labDirOf(name), 'vagrant');
}

export function readVagrantLab(name: string): VagrantLabState | undefined {
  const f = stateFile(name);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as VagrantLabState) : undefined;
}

function writeVagrantLab(lab: VagrantLabState): void {
  mkdirSync(labDirOf(lab.name), { recursive: true, mode: 0o700 });
  writeFileSync(stateFile(lab.name), JSON.stringify(lab, null, 2) + '\n');
}

function requireVagrantLab(name: string): VagrantLabState {
  const lab = readVagrantLab(name);
  if (!lab) throw new LabError(`there is no Vagrant lab "${name}"`, 'lab --provider vagrant', `create it with \`${labCmd('up', name)}\``);
  return lab;
}

function requireNode(lab: VagrantLabState, node: string): VagrantLabNode {
  const n = lab.nodes.find((x) => x.name === node);
  if (!n) throw new LabError(`Vagrant lab "${lab.name}" has no node "${node}"`, node, `nodes: ${lab.nodes.map((x) => x.name).join(', ')}`);
  return n;
}

/** The CLI command for an action on this lab, for hints. */
function labCmd(action: string, name: string): string {
  return `drillbook lab ${action} --provider vagrant${name === DEFAULT_VAGRANT_LAB ? '' : ` --name ${name}`}`;
}

function checkName(name: string): string {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new LabError(`bad lab name "${name}"`, '--name', 'lab names are lower-case letters, digits and "-" (they become `--lab NAME`)');
  return name;
}

function checkSubnet(subnet: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.0\/24$/.exec(subnet);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new LabError(`bad lab subnet "${subnet}"`, '--subnet', 'give an IPv4 /24 such as 10.77.0.0/24');
  return subnet;
}

// ---------------------------------------------------------------- running vagrant

/** Vagrant must be installed; the message says how, and that it needs a provider. */
export function requireVagrant(): string {
  const bin = which('vagrant');
  if (!bin) throw new LabError('vagrant is not installed', 'lab --provider vagrant', INSTALL_HINT);
  return bin;
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\r(?!\n)/g, '\n');

function tail(text: string, lines = 8): string {
  return stripAnsi(text)
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .slice(-lines)
    .join('\n    ');
}

/** Run a vagrant command without a terminal and collect its output. */
function vagrantCapture(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(requireVagrant(), args, { env, cwd: projectRoot(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * Run a vagrant command in a pseudo-terminal, streaming its output. Rejects
 * with a LabError carrying the last lines when it fails.
 */
export function vagrantPty(args: string[], env: Record<string, string>, onOutput: OutputSink, opts: { signal?: AbortSignal; interactive?: boolean } = {}): Promise<string> {
  const bin = requireVagrant();
  return new Promise((resolve, reject) => {
    let out = '';
    const term = pty.spawn(bin, args, {
      name: env.TERM && env.TERM !== 'dumb' ? env.TERM : 'xterm-256color',
      cols: process.stdout.columns || 120,
      rows: process.stdout.rows || 30,
      cwd: projectRoot(),
      env,
    });
    const interrupt = () => term.write('\x03');
    opts.signal?.addEventListener('abort', interrupt, { once: true });
    const stdin = process.stdin;
    const forward = (d: Buffer) => term.write(d.toString('utf8'));
    const raw = opts.interactive && stdin.isTTY;
    if (raw) {
      stdin.setRawMode(true);
      stdin.on('data', forward);
      stdin.resume();
    }
    term.onData((d) => {
      out += d;
      if (out.length > 1_000_000) out = out.slice(-500_000);
      onOutput(d);
    });
    term.onExit(({ exitCode, signal }) => {
      opts.signal?.removeEventListener('abort', interrupt);
      if (raw) {
        stdin.off('data', forward);
        stdin.setRawMode(false);
        stdin.pause();
      }
      if (exitCode === 0) resolve(out);
      else reject(vagrantFailure(args, out, signal ? `signal ${signal}` : `exit ${exitCode}`));
    });
  });
}

function vagrantFailure(args: string[], output: string, how: string): LabError {
  const text = stripAnsi(output);
  let hint = 'see the output above';
  if (/No usable default provider|provider .* not installed|could not find a provider/i.test(text)) hint = `no Vagrant provider is usable here. ${PROVIDER_HINT}`;
  else if (/already in use by interface/i.test(text)) hint = 'libvirt refuses a network whose subnet already has a route (the local lab\'s guard route stays after `lab down`): give this lab another subnet, e.g. --subnet 10.78.0.0/24';
  else if (/range specified for the host-only network|networks\.conf/i.test(text)) hint = 'VirtualBox only allows host-only networks it is told about: add a line such as `* 10.77.0.0/16` to /etc/vbox/networks.conf, or pick --subnet inside 192.168.56.0/21';
  else if (/VT-x|AMD-V|kvm/i.test(text) && /not available|disabled|permission/i.test(text)) hint = 'the VMs need hardware virtualization: enable VT-x/AMD-V, and for libvirt make sure /dev/kvm exists and you may use it';
  return new LabError(`vagrant ${args.join(' ')} failed (${how}):\n    ${tail(output)}`, 'vagrant', hint);
}

/** The message of a failed `--machine-readable` command (its `error-exit` line), else the output's tail. */
export function machineReadableError(output: string): string {
  for (const line of output.split(/\r?\n/)) {
    const m = /^\d+,[^,]*,error-exit,[^,]*,(.*)$/.exec(line);
    if (m) return m[1].replaceAll('%!(VAGRANT_COMMA)', ',').replaceAll('\\n', '\n').split('\n')[0].trim();
  }
  return tail(output, 4);
}

/** Machines Vagrant has created for this lab (it keeps `machines/NODE/PROVIDER/id` for each). */
export function createdMachines(name: string): { node: string; provider: string }[] {
  const dir = path.join(vagrantDotfileDir(name), 'machines');
  if (!existsSync(dir)) return [];
  const out: { node: string; provider: string }[] = [];
  for (const node of readdirSync(dir)) {
    const nodeDir = path.join(dir, node);
    let providers: string[] = [];
    try {
      providers = readdirSync(nodeDir);
    } catch {
      continue;
    }
    for (const provider of providers) if (existsSync(path.join(nodeDir, provider, 'id'))) out.push({ node, provider });
  }
  return out;
}

/** The topology the Vagrantfile resolves for a lab, without booting anything. */
export async function vagrantPlan(lab: Pick<VagrantLabState, 'name' | 'topology' | 'subnet' | 'nodeLimit'>, envBase: NodeJS.ProcessEnv = process.env): Promise<VagrantPlan> {
  const env = { ...vagrantEnv(lab, envBase), DRILLBOOK_PRINT_TOPOLOGY: '1', VAGRANT_CHECKPOINT_DISABLE: '1' };
  const r = await vagrantCapture(['validate', '--ignore-provider'], env);
  if (r.code !== 0) throw new LabError(`the Vagrantfile does not validate: ${tail(r.stderr || r.stdout, 4)}`, path.join(projectRoot(), 'Vagrantfile'));
  return parseTopologyLine(r.stdout);
}

/** Machine states, in the lab's node order. */
async function machineStates(lab: VagrantLabState): Promise<MachineStatus[]> {
  const r = await vagrantCapture(['status', '--machine-readable'], vagrantEnv(lab));
  if (r.code !== 0) {
    const message = machineReadableError(r.stdout + r.stderr);
    throw new LabError(`vagrant status failed: ${message}`, 'vagrant status', /provider/i.test(message) ? PROVIDER_HINT : undefined);
  }
  return parseMachineReadableStatus(r.stdout);
}

/** ssh-config of the named (running) machines. */
async function sshConfig(lab: VagrantLabState, nodes: string[]): Promise<SshConfigEntry[]> {
  const r = await vagrantCapture(['ssh-config', ...nodes], vagrantEnv(lab));
  if (r.code !== 0) throw new LabError(`vagrant ssh-config ${nodes.join(' ')} failed: ${tail(r.stderr || r.stdout, 4)}`, 'vagrant ssh-config', `are the machines running? see \`${labCmd('status', lab.name)}\``);
  return parseSshConfig(r.stdout);
}

/** A node's ed25519 host key, read over Vagrant's own (already authenticated) SSH channel. */
async function readHostKey(lab: VagrantLabState, node: string): Promise<string | undefined> {
  const r = await vagrantCapture(['ssh', node, '--no-tty', '-c', 'cat /etc/ssh/ssh_host_ed25519_key.pub'], vagrantEnv(lab), 60_000);
  const key = /(ssh-ed25519 [A-Za-z0-9+/=]+)/.exec(r.stdout)?.[1];
  return r.code === 0 ? key : undefined;
}

/** Read ssh-config and host keys of these nodes and rewrite the inventory from everything known. */
async function refreshInventory(lab: VagrantLabState, nodes: string[], progress: Progress): Promise<void> {
  if (nodes.length) {
    const entries = await sshConfig(lab, nodes);
    for (const e of entries) lab.ssh[e.host] = e;
    await Promise.all(
      nodes.map(async (n) => {
        const key = await readHostKey(lab, n);
        if (key) lab.hostKeys[n] = key;
        else {
          delete lab.hostKeys[n];
          progress.line(`${n}: could not read its host key; the runner will record it on first use`);
        }
      }),
    );
  }
  writeVagrantLab(lab);
  writeInventoryFiles(lab);
}

function writeInventoryFiles(lab: VagrantLabState): void {
  const file = labInventoryFile(lab.name);
  const doc = buildVagrantInventory(lab, lab.ssh, loadTopologies().vips, lab.hostKeys);
  writeFileSync(file, vagrantInventoryText(doc, file));
  const known = lab.nodes
    .filter((n) => lab.hostKeys[n.name] && lab.ssh[n.name])
    .map((n) => {
      const e = lab.ssh[n.name];
      return `${e.port === 22 ? e.hostName : `[${e.hostName}]:${e.port}`} ${lab.hostKeys[n.name]}`;
    });
  writeFileSync(path.join(labDirOf(lab.name), 'known_hosts'), known.join('\n') + '\n');
}

/** Warn early about a subnet libvirt would refuse (it already has a route, e.g. the local lab's guard). */
async function subnetRouteWarning(subnet: string): Promise<string | undefined> {
  if (process.platform !== 'linux' || !which('ip')) return undefined;
  const r = await new Promise<string>((resolve) => execFile('ip', ['-j', 'route', 'show', 'table', 'main', 'match', subnet], (err, stdout) => resolve(err ? '[]' : String(stdout))));
  try {
    const routes = JSON.parse(r || '[]') as { dst: string; type?: string; dev?: string }[];
    const same = routes.find((x) => x.dst === subnet);
    if (same) return `${subnet} already has a route on this machine (${same.type ?? 'unicast'}${same.dev ? ` via ${same.dev}` : ''}); libvirt refuses such a subnet - if vagrant up fails with "already in use by interface", use another --subnet`;
  } catch {
    /* no opinion */
  }
  return undefined;
}

// ---------------------------------------------------------------- commands

export async function vagrantUp(opts: VagrantUpOptions, progress: Progress, onOutput: OutputSink = () => {}): Promise<VagrantLabState> {
  requireVagrant();
  const name = checkName(opts.name ?? DEFAULT_VAGRANT_LAB);
  if (existsSync(path.join(labDirOf(name), 'lab.json'))) {
    throw new LabError(`"${name}" is a local lab`, '--name', 'give the Vagrant lab another name, e.g. --name vagrant');
  }
  const existing = readVagrantLab(name);
  const topologies = loadTopologies();
  const topology = opts.topology ?? existing?.topology ?? 'infra3';
  const topo = Object.hasOwn(topologies.topologies, topology) ? topologies.topologies[topology] : undefined;
  if (!topo) throw new LabError(`no topology "${topology}"`, '--topology', `known: ${Object.keys(topologies.topologies).join(', ')} (labs/topologies.yaml)`);
  const subnet = checkSubnet(opts.subnet ?? existing?.subnet ?? process.env.DRILLBOOK_LAB_SUBNET ?? topologies.subnet);
  const count = Object.keys(topo.nodes).length;
  const nodeLimit = opts.nodes ?? (opts.topology ? undefined : existing?.nodeLimit);
  if (nodeLimit !== undefined && (!Number.isInteger(nodeLimit) || nodeLimit < 1 || nodeLimit > count)) throw new LabError(`--nodes must be 1-${count} for topology ${topology}`, '--nodes');

  if (existing && (existing.topology !== topology || existing.subnet !== subnet || existing.nodeLimit !== nodeLimit)) {
    if (createdMachines(name).length) {
      throw new LabError(`Vagrant lab "${name}" exists as ${existing.topology} with ${existing.nodes.length} nodes on ${existing.subnet}`, 'lab up', `run \`${labCmd('down', name)}\` first to change its shape`);
    }
  }

  progress.phase(`vagrant: reading the Vagrantfile (${topology}${nodeLimit ? `, first ${nodeLimit} nodes` : ''}, ${subnet})`);
  const shape = { name, topology, subnet, nodeLimit };
  const plan = await vagrantPlan(shape);
  // The Vagrantfile and the local lab read the same definition; make sure they still agree.
  const expected = Object.entries(topo.nodes)
    .slice(0, nodeLimit ?? count)
    .map(([n, v]) => `${n}=${nodeAddress(subnet, v.octet)}`)
    .join(' ');
  const got = plan.nodes.map((n) => `${n.name}=${n.address}`).join(' ');
  if (got !== expected) throw new LabError(`the Vagrantfile plans "${got}" but labs/topologies.yaml gives "${expected}"`, path.join(projectRoot(), 'Vagrantfile'), 'the Vagrantfile must derive its nodes from labs/topologies.yaml');

  const lab: VagrantLabState = {
    name,
    provider: 'vagrant',
    topology,
    subnet,
    ...(nodeLimit !== undefined ? { nodeLimit } : {}),
    nodes: plan.nodes.map((n) => ({ name: n.name, address: n.address, groups: n.groups })),
    vagrantProvider: existing?.vagrantProvider,
    ssh: existing?.ssh ?? {},
    hostKeys: existing?.hostKeys ?? {},
    createdAt: existing?.createdAt ?? new Date().toISOString(),
  };
  // Recorded before booting, so `lab down` can remove a half-made lab.
  writeVagrantLab(lab);
  for (const n of plan.nodes) progress.line(`${n.name.padEnd(6)} ${n.address.padEnd(15)} ${n.groups.join(',')}  ${n.memory} MiB, ${n.cpus} CPU${n.nested ? ', nested virtualization' : ''}${n.disks.length ? `, ${n.disks.length} x ${n.disks[0].size_gib} GiB raw disks` : ''}`);
  const warning = await subnetRouteWarning(subnet);
  if (warning) progress.line(`note: ${warning}`);

  progress.phase(`vagrant up ${plan.nodes.map((n) => n.name).join(' ')} (Vagrant's output follows)`);
  await vagrantPty(['up', ...plan.nodes.map((n) => n.name)], vagrantEnv(lab), onOutput, { signal: opts.signal, interactive: opts.interactive });

  progress.phase('inventory: vagrant ssh-config and host keys');
  const states = await machineStates(lab);
  lab.vagrantProvider = states.find((s) => s.provider)?.provider ?? lab.vagrantProvider;
  await refreshInventory(lab, lab.nodes.map((n) => n.name), progress);
  for (const n of lab.nodes) {
    const e = lab.ssh[n.name];
    progress.line(`${n.name} root@${e.hostName}:${e.port} (lab address ${n.address})`);
  }
  progress.phase(`Vagrant lab "${name}" is up (${lab.vagrantProvider ?? 'vagrant'}): drillbook run <chapter> --lab ${name}`);
  return lab;
}

export interface VagrantStatus {
  lab?: VagrantLabState;
  nodes: (VagrantLabNode & { state: string; provider?: string; ssh?: { user: string; host: string; port: number } })[];
}

export async function vagrantStatus(name: string = DEFAULT_VAGRANT_LAB): Promise<VagrantStatus> {
  const lab = readVagrantLab(name);
  if (!lab) return { nodes: [] };
  // Nothing created yet (e.g. `up` stopped before the first machine): no need to ask vagrant.
  const states = new Map(createdMachines(name).length ? (await machineStates(lab)).map((m) => [m.name, m]) : []);
  return {
    lab,
    nodes: lab.nodes.map((n) => {
      const m = states.get(n.name);
      const e = lab.ssh[n.name];
      return { ...n, state: m?.state ?? (states.size ? 'unknown' : 'not_created'), provider: m?.provider, ...(e ? { ssh: { user: 'root', host: e.hostName, port: e.port } } : {}) };
    }),
  };
}

export type VagrantNodeAction = 'start' | 'stop' | 'crash' | 'reset';

/**
 * start: `vagrant up NODE`; stop: `vagrant halt NODE` (orderly shutdown);
 * crash: `vagrant halt --force NODE` (power cut); reset: `vagrant destroy -f
 * NODE && vagrant up NODE` (a fresh, re-provisioned machine).
 */
export async function vagrantNodeAction(name: string, action: VagrantNodeAction, node: string, progress: Progress, onOutput: OutputSink = () => {}, opts: { signal?: AbortSignal; interactive?: boolean } = {}): Promise<void> {
  requireVagrant();
  const lab = requireVagrantLab(name);
  requireNode(lab, node);
  const env = vagrantEnv(lab);
  switch (action) {
    case 'stop':
      progress.phase(`vagrant halt ${node}`);
      await vagrantPty(['halt', node], env, onOutput, opts);
      progress.line(`${node} stopped`);
      return;
    case 'crash':
      progress.phase(`vagrant halt --force ${node} (power off without shutdown)`);
      await vagrantPty(['halt', '--force', node], env, onOutput, opts);
      progress.line(`${node} crashed (powered off)`);
      return;
    case 'start':
    case 'reset':
      if (action === 'reset') {
        progress.phase(`vagrant destroy -f ${node}`);
        await vagrantPty(['destroy', '-f', node], env, onOutput, opts);
        delete lab.hostKeys[node];
      }
      progress.phase(`vagrant up ${node}`);
      await vagrantPty(['up', node], env, onOutput, opts);
      progress.phase(`inventory: ${node}`);
      await refreshInventory(lab, [node], progress);
      progress.line(`${node} is back (${action})`);
      return;
  }
}

export async function vagrantDown(name: string, progress: Progress, onOutput: OutputSink = () => {}, opts: { signal?: AbortSignal; interactive?: boolean } = {}): Promise<void> {
  const lab = requireVagrantLab(name);
  if (createdMachines(name).length) {
    progress.phase(`vagrant destroy -f ${lab.nodes.map((n) => n.name).join(' ')}`);
    await vagrantPty(['destroy', '-f', ...lab.nodes.map((n) => n.name)], vagrantEnv(lab), onOutput, opts);
  } else {
    progress.phase('no machines were created; removing the lab\'s records');
  }
  const dir = labDirOf(name);
  for (const f of [labInventoryFile(name), path.join(dir, 'known_hosts'), stateFile(name)]) rmSync(f, { force: true });
  rmSync(vagrantDotfileDir(name), { recursive: true, force: true });
  if (existsSync(dir) && !readdirSync(dir).length) rmSync(dir, { recursive: true, force: true });
  progress.phase(`Vagrant lab "${name}" is down`);
}

/** `ssh` to a node as the runner reaches it (root, the machine's key, its recorded host key). */
export function vagrantSshArgs(name: string, node: string, command: string[]): { cmd: string; args: string[] } {
  const lab = requireVagrantLab(name);
  requireNode(lab, node);
  const e = lab.ssh[node];
  if (!e) throw new LabError(`no SSH details for ${node} yet`, node, `start it with \`${labCmd(`start ${node}`, name)}\``);
  const known = path.join(labDirOf(name), 'known_hosts');
  return {
    cmd: 'ssh',
    args: [
      '-i', e.identityFiles[0],
      '-p', String(e.port),
      '-o', 'IdentitiesOnly=yes',
      '-o', `UserKnownHostsFile=${known}`,
      '-o', `StrictHostKeyChecking=${lab.hostKeys[node] ? 'yes' : 'accept-new'}`,
      '-o', 'LogLevel=ERROR',
      ...(command.length ? [] : ['-t']),
      `root@${e.hostName}`,
      ...command,
    ],
  };
}
