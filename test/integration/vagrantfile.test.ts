/**
 * The real Vagrantfile, read by the real `vagrant` (nothing boots:
 * `vagrant validate --ignore-provider` only evaluates it). The topology it
 * prints must be the one the local lab builds from labs/topologies.yaml:
 * same node names, addresses and groups, for every topology and subnet.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { which } from '../../server/lab/host.ts';
import { parseTopologyLine, vagrantPlan, type VagrantPlan } from '../../server/lab/vagrant.ts';
import { loadTopologies, nodeAddress, projectRoot } from '../../src/runbook/topology.ts';
import { drillbook } from '../fixtures/cli.ts';

const VAGRANT = which('vagrant');
const INSTALL = 'apt-get install -y --no-install-recommends vagrant';
if (!VAGRANT) console.warn(`test/integration/vagrantfile.test.ts: skipped - vagrant is not installed (${INSTALL})`);

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'drillbook-vagrantfile-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The environment of one `vagrant` run: private Vagrant home and machine dir, no inherited Drillbook inputs. */
function vagrantEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('DRILLBOOK_') && k !== 'DRILLBOOK_STATE_DIR') delete env[k];
  delete env.VAGRANT_VAGRANTFILE;
  return {
    ...env,
    VAGRANT_HOME: path.join(tmp, 'vagrant-home'),
    VAGRANT_DOTFILE_PATH: path.join(tmp, 'dot-vagrant'),
    VAGRANT_CHECKPOINT_DISABLE: '1',
    ...vars,
  };
}

function validate(vars: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(VAGRANT!, ['validate', '--ignore-provider'], { cwd: projectRoot(), env: vagrantEnv(vars), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function printedTopology(vars: Record<string, string>): Promise<VagrantPlan> {
  const r = await validate({ DRILLBOOK_PRINT_TOPOLOGY: '1', ...vars });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Vagrantfile validated successfully.');
  return parseTopologyLine(r.stdout);
}

/** What the local lab builds: labs/topologies.yaml through loadTopologies()/nodeAddress(). */
function localPlan(topology: string, subnet = loadTopologies().subnet) {
  return Object.entries(loadTopologies().topologies[topology].nodes).map(([name, n]) => ({ name, address: nodeAddress(subnet, n.octet), groups: n.groups }));
}

const shape = (plan: VagrantPlan) => plan.nodes.map(({ name, address, groups }) => ({ name, address, groups }));

describe.skipIf(!VAGRANT)(`the Vagrantfile${VAGRANT ? '' : ` (skipped: vagrant is not installed - ${INSTALL})`}`, () => {
  it('validates without a provider and prints no topology unless asked', async () => {
    const r = await validate({});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Vagrantfile validated successfully.');
    expect(r.stdout).not.toContain('DRILLBOOK_TOPOLOGY_JSON');
  });

  it('infra3 (the default): the local lab\'s three controllers', async () => {
    const plan = await printedTopology({});
    expect(plan.topology).toBe('infra3');
    expect(plan.subnet).toBe(loadTopologies().subnet);
    expect(shape(plan)).toEqual(localPlan('infra3'));
    for (const n of plan.nodes) expect(n).toMatchObject({ memory: 4096, cpus: 2, nested: false, disks: [] });
  });

  it('full: the same eight nodes, with resources per group', async () => {
    const plan = await printedTopology({ DRILLBOOK_TOPOLOGY: 'full' });
    expect(shape(plan)).toEqual(localPlan('full'));
    const by = Object.fromEntries(plan.nodes.map((n) => [n.name, n]));
    expect(by.ctl2).toMatchObject({ memory: 4096, cpus: 2, nested: false, disks: [] });
    expect(by.cmp1).toMatchObject({ memory: 2048, nested: true, disks: [] });
    expect(by.stor3.disks).toEqual([
      { size_gib: 10, format: 'raw' },
      { size_gib: 10, format: 'raw' },
      { size_gib: 10, format: 'raw' },
    ]);
    const vips = Object.fromEntries(Object.entries(loadTopologies().vips).map(([k, o]) => [k, nodeAddress(loadTopologies().subnet, o)]));
    expect(plan.vips).toEqual(vips);
  });

  it('DRILLBOOK_LAB_SUBNET moves every address; DRILLBOOK_NODES keeps the first N', async () => {
    const moved = await printedTopology({ DRILLBOOK_TOPOLOGY: 'full', DRILLBOOK_LAB_SUBNET: '10.99.0.0/24' });
    expect(moved.subnet).toBe('10.99.0.0/24');
    expect(shape(moved)).toEqual(localPlan('full', '10.99.0.0/24'));
    expect(moved.nodes.every((n) => n.address.startsWith('10.99.0.'))).toBe(true);
    expect(moved.vips.vip).toBe('10.99.0.100');

    const two = await printedTopology({ DRILLBOOK_NODES: '2' });
    expect(shape(two)).toEqual(localPlan('infra3').slice(0, 2));
  });

  it('refuses an unknown topology, a bad subnet and too many nodes with plain messages', async () => {
    const bad = await validate({ DRILLBOOK_TOPOLOGY: 'nope' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('no topology "nope" (DRILLBOOK_TOPOLOGY); known: infra3, full');
    const subnet = await validate({ DRILLBOOK_LAB_SUBNET: '10.99.0.0/16' });
    expect(subnet.code).not.toBe(0);
    expect(subnet.stderr).toContain('bad lab subnet "10.99.0.0/16"');
    const many = await validate({ DRILLBOOK_NODES: '4' });
    expect(many.code).not.toBe(0);
    expect(many.stderr).toContain('DRILLBOOK_NODES must be 1-3 for topology infra3');
  });

  it('vagrantPlan() (what `lab up --provider vagrant` checks first) reads the same topology', async () => {
    const plan = await vagrantPlan({ name: 'vt', topology: 'full', subnet: '10.88.0.0/24', nodeLimit: 4 }, vagrantEnv({}));
    expect(plan.lab).toBe('vt');
    expect(shape(plan)).toEqual(localPlan('full', '10.88.0.0/24').slice(0, 4));
  });
});

describe('drillbook lab --provider vagrant', () => {
  it('says how to install vagrant when it is missing', async () => {
    const r = await drillbook(['lab', 'up', '--provider', 'vagrant'], { env: { PATH: path.join(tmp, 'empty-path') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vagrant is not installed');
    expect(r.stderr).toContain('apt-get install -y --no-install-recommends vagrant');
    expect(r.stderr).toMatch(/libvirt.*VirtualBox/);
  });

  it('status without a Vagrant lab says how to create one', async () => {
    const r = await drillbook(['lab', 'status', '--provider', 'vagrant', '--name', 'none-here']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('no Vagrant lab: create one with `drillbook lab up --provider vagrant`');
  });
});
