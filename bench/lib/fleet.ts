/**
 * The hosts the benchmark talks to: real OpenSSH sshd processes on loopback
 * ports (test/fixtures/sshd.ts), created here and removed afterwards, and
 * the same hosts described for every contender: a Drillbook inventory with
 * pinned host keys, an OpenSSH known_hosts file (StrictHostKeyChecking=yes),
 * an Ansible inventory and config, a parallel-ssh hosts file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadInventory, type Inventory } from '../../server/inventory.ts';
import { KnownHosts } from '../../server/transports/known-hosts.ts';
import { SshPool } from '../../server/transports/ssh-pool.ts';
import { startSshFleet, TEST_USER, type SshFleet } from '../../test/fixtures/sshd.ts';
import { onCleanup } from './cleanup.ts';
import { spawnSync } from 'node:child_process';

/** Connect timeout for every contender (Drillbook's inventory, ssh, parallel-ssh, Ansible). */
export const CONNECT_TIMEOUT_S = 30;

export interface BenchFleet {
  fleet: SshFleet;
  names: string[];
  /** Scratch directory of this fleet (inventories, known_hosts, configs). */
  dir: string;
  inventoryFile: string;
  inventory: Inventory;
  knownHosts: string;
  /** OpenSSH client arguments for one host (before the command). */
  sshArgs(name: string, extra?: string[]): string[];
  /** Options shared by ssh and parallel-ssh. */
  sshOptions: string[];
  psshHostsFile: string;
  ansibleInventory: string;
  /** Environment for `ansible`: its own config file, temp dirs and control path dir. */
  ansibleEnv(opts: { controlPersist: boolean }): NodeJS.ProcessEnv;
  newPool(): SshPool;
  stop(): Promise<void>;
}

/**
 * `count` hosts. Steps are checked against the chapter's lab topology when
 * they are extracted, so one host is named like the lab's first node (ctl1)
 * and a fleet is targeted with on="all".
 */
export async function benchFleet(count: number): Promise<BenchFleet> {
  const names = count === 1 ? ['ctl1'] : Array.from({ length: count }, (_, i) => `h${String(i + 1).padStart(2, '0')}`);
  const fleet = await startSshFleet(names);
  const undoFleet = onCleanup(`sshd fleet (${count} processes)`, () => fleet.stopAll());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drillbook-bench-'));
  const undoDir = onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const byName = new Map(fleet.hosts.map((h) => [h.name, h]));

  const inventoryFile = fleet.writeInventory({ name: 'bench', file: path.join(dir, 'inventory.yaml'), hostKeys: true, groups: { fleet: names } });
  // A busy machine can take more than the fixture's 5 s to accept 30 connections at once; every tool gets 30 s.
  writeFileSync(inventoryFile, readFileSync(inventoryFile, 'utf8').replace('connectTimeout: 5', `connectTimeout: ${CONNECT_TIMEOUT_S}`));
  const inventory = loadInventory(inventoryFile);
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, fleet.hosts.map((h) => `[127.0.0.1]:${h.port} ${h.hostPublicKey}`).join('\n') + '\n');

  const sshOptions = [
    '-F', '/dev/null',
    '-i', fleet.clientKey,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', `ConnectTimeout=${CONNECT_TIMEOUT_S}`,
  ];
  const sshArgs = (name: string, extra: string[] = []) => {
    const h = byName.get(name)!;
    return [...sshOptions, ...extra, '-p', String(h.port), '-l', TEST_USER, '127.0.0.1'];
  };

  const psshHostsFile = path.join(dir, 'pssh-hosts');
  writeFileSync(psshHostsFile, fleet.hosts.map((h) => `${TEST_USER}@127.0.0.1:${h.port}`).join('\n') + '\n');

  // Ansible: an INI inventory and a config of its own, so /etc/ansible and ~/.ansible play no part.
  const ansibleInventory = path.join(dir, 'ansible-hosts.ini');
  writeFileSync(
    ansibleInventory,
    '[fleet]\n' + fleet.hosts.map((h) => `${h.name} ansible_host=127.0.0.1 ansible_port=${h.port} ansible_user=${TEST_USER} ansible_ssh_private_key_file=${fleet.clientKey}`).join('\n') + '\n',
  );
  const controlDir = path.join(dir, 'ansible-cp');
  const ansibleEnv = (opts: { controlPersist: boolean }): NodeJS.ProcessEnv => {
    const cfg = path.join(dir, opts.controlPersist ? 'ansible-persist.cfg' : 'ansible-fresh.cfg');
    // Debian's defaults are -C -o ControlMaster=auto -o ControlPersist=60s; "fresh" turns multiplexing off.
    const sshArgsLine = opts.controlPersist ? '-C -o ControlMaster=auto -o ControlPersist=60s' : '-C -o ControlMaster=no';
    writeFileSync(
      cfg,
      [
        '[defaults]',
        `inventory = ${ansibleInventory}`,
        'host_key_checking = True',
        'interpreter_python = /usr/bin/python3',
        `local_tmp = ${path.join(dir, 'ansible-local-tmp')}`,
        'retry_files_enabled = False',
        'nocolor = True',
        `timeout = ${CONNECT_TIMEOUT_S}`,
        '',
        '[ssh_connection]',
        `ssh_args = ${sshArgsLine} -o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes`,
        `control_path_dir = ${controlDir}`,
        'pipelining = False',
        '',
      ].join('\n'),
    );
    return { ...process.env, ANSIBLE_CONFIG: cfg, ANSIBLE_HOME: path.join(dir, 'ansible-home'), ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_DEPRECATION_WARNINGS: 'False' };
  };

  const pools: SshPool[] = [];
  const newPool = () => {
    const p = new SshPool({ hosts: inventory.hosts, knownHosts: new KnownHosts(path.join(dir, 'drillbook_known_hosts'), 'strict'), connectTimeoutMs: inventory.connectTimeoutMs });
    pools.push(p);
    return p;
  };

  /** Close the ControlPersist masters (ssh -O exit on each control socket) before the sshd go. */
  const closeMasters = () => {
    for (const h of fleet.hosts) spawnSync('ssh', ['-o', `ControlPath=${controlPath({ dir } as BenchFleet, h.name)}`, '-O', 'exit', '-p', String(h.port), '127.0.0.1'], { stdio: 'ignore', timeout: 5000 });
    spawnSync('sh', ['-c', 'for s in "$1"/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x; done; true', 'sh', controlDir], { stdio: 'ignore', timeout: 20_000 });
  };
  const undoMasters = onCleanup('ssh ControlPersist masters', closeMasters);
  const undoPools = onCleanup('Drillbook SSH pools', async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  return {
    fleet,
    names,
    dir,
    inventoryFile,
    inventory,
    knownHosts,
    sshArgs,
    sshOptions,
    psshHostsFile,
    ansibleInventory,
    ansibleEnv,
    newPool,
    async stop() {
      await undoPools();
      await undoMasters();
      await undoFleet();
      await undoDir();
    },
  };
}

/** ControlPath for the "ssh, warm (ControlPersist)" contender. */
export function controlPath(f: BenchFleet, name: string): string {
  return path.join(f.dir, `cm-${name}`);
}
