/**
 * The Vagrant lab's pure parts: `vagrant ssh-config` parsing, the runner
 * inventory built from it (checked with the real inventory parser), and
 * `vagrant status --machine-readable` parsing. The texts below are what
 * Vagrant 2.3 prints for libvirt and VirtualBox machines.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabError } from '../../server/lab/host.ts';
import {
  buildVagrantInventory,
  createdMachines,
  machineReadableError,
  parseMachineReadableStatus,
  parseSshConfig,
  parseTopologyLine,
  vagrantEnv,
  vagrantInventoryText,
  type VagrantLabState,
} from '../../server/lab/vagrant.ts';
import { parseInventory } from '../../server/inventory.ts';
import { loadTopologies, nodeAddress } from '../../src/runbook/topology.ts';

const STATE = '/home/reader/.local/state/drillbook/labs/vagrant/vagrant/machines';

/** VirtualBox: NAT port forwards on 127.0.0.1, one port per machine (2222, then 2200, 2201 on collisions). */
const VIRTUALBOX = `Host ctl1
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no

  IdentityFile ${STATE}/ctl1/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host ctl2
  HostName 127.0.0.1
  User vagrant
  Port 2200
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no

  IdentityFile ${STATE}/ctl2/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host ctl3
  HostName 127.0.0.1
  User vagrant
  Port 2201
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no

  IdentityFile ${STATE}/ctl3/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL

`;

/**
 * libvirt: each machine's address on vagrant-libvirt's management network,
 * port 22; a key path with a space is quoted; newer Vagrant adds key-type
 * options; a plugin warning precedes the first block.
 */
const HOME = '/home/a reader/.local/state/drillbook/labs/vagrant/vagrant/machines';
const LIBVIRT = `Vagrant gems may fail to load: plugin vagrant-foo is outdated
Host ctl1
  HostName 192.168.121.57
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "${HOME}/ctl1/libvirt/private_key"
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

Host ctl2
  HostName 192.168.121.114
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "${HOME}/ctl2/libvirt/private_key"
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

Host ctl3
  HostName 192.168.121.9
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "${HOME}/ctl3/libvirt/private_key"
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

`;

const topo = loadTopologies();
const SUBNET = topo.subnet;
const infra3 = Object.entries(topo.topologies.infra3.nodes).map(([name, n]) => ({ name, address: nodeAddress(SUBNET, n.octet), groups: n.groups }));
const lab: Pick<VagrantLabState, 'name' | 'topology' | 'subnet' | 'nodes' | 'vagrantProvider'> = { name: 'vagrant', topology: 'infra3', subnet: SUBNET, nodes: infra3, vagrantProvider: 'libvirt' };
const KEY1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3nXz2m0cZ8f3Yq7Q1uQeS0bqT1k9rO8y5y2b4Zb5aF';

describe('parseSshConfig', () => {
  it('reads VirtualBox blocks: forwarded ports on 127.0.0.1', () => {
    const entries = parseSshConfig(VIRTUALBOX);
    expect(entries).toEqual([
      { host: 'ctl1', hostName: '127.0.0.1', port: 2222, user: 'vagrant', identityFiles: [`${STATE}/ctl1/virtualbox/private_key`] },
      { host: 'ctl2', hostName: '127.0.0.1', port: 2200, user: 'vagrant', identityFiles: [`${STATE}/ctl2/virtualbox/private_key`] },
      { host: 'ctl3', hostName: '127.0.0.1', port: 2201, user: 'vagrant', identityFiles: [`${STATE}/ctl3/virtualbox/private_key`] },
    ]);
  });

  it('reads libvirt blocks: management addresses, quoted key paths, and skips text before the first Host', () => {
    const entries = parseSshConfig(LIBVIRT);
    expect(entries.map((e) => [e.host, e.hostName, e.port, e.user])).toEqual([
      ['ctl1', '192.168.121.57', 22, 'vagrant'],
      ['ctl2', '192.168.121.114', 22, 'vagrant'],
      ['ctl3', '192.168.121.9', 22, 'vagrant'],
    ]);
    expect(entries[0].identityFiles).toEqual([`${HOME}/ctl1/libvirt/private_key`]);
    expect(entries[0].proxyCommand).toBeUndefined();
  });

  it('takes keywords in any case, Key=value, several IdentityFiles and a ProxyCommand', () => {
    const [e] = parseSshConfig('host cmp1\n  hostname=192.168.121.20\n  PORT 2022\n  user vagrant\n  IdentityFile /k/one\n  IdentityFile /k/two\n  ProxyCommand ssh -W %h:%p virt-host\n');
    expect(e).toEqual({ host: 'cmp1', hostName: '192.168.121.20', port: 2022, user: 'vagrant', identityFiles: ['/k/one', '/k/two'], proxyCommand: 'ssh -W %h:%p virt-host' });
  });

  it('refuses a block without HostName, and a bad port, naming the host', () => {
    expect(() => parseSshConfig('Host ctl1\n  User vagrant\n')).toThrow(/ctl1.*no HostName/);
    expect(() => parseSshConfig('Host ctl2\n  HostName 127.0.0.1\n  Port 70000\n')).toThrow(/ctl2.*bad port "70000"/);
  });
});

describe('buildVagrantInventory', () => {
  it('writes an inventory the runner reads: root with the machine key, groups and vars like the local lab', () => {
    const doc = buildVagrantInventory(lab, parseSshConfig(LIBVIRT), topo.vips, { ctl1: KEY1 });
    const file = '/tmp/drillbook-state/labs/vagrant/inventory.yaml';
    const inv = parseInventory(vagrantInventoryText(doc, file), file);
    expect(inv.name).toBe('vagrant');
    expect(inv.profile).toBe('lab');
    expect(Object.keys(inv.hosts)).toEqual(['ctl1', 'ctl2', 'ctl3']);
    expect(inv.hosts.ctl1).toMatchObject({ address: '192.168.121.57', port: 22, user: 'root', keyFile: `${HOME}/ctl1/libvirt/private_key`, hostKey: KEY1, vars: { lab_address: '10.77.0.11' } });
    expect(inv.hosts.ctl2.hostKey).toBeUndefined();
    expect(inv.hosts.ctl3).toMatchObject({ address: '192.168.121.9', user: 'root', vars: { lab_address: nodeAddress(SUBNET, 13) } });
    expect(inv.groups).toEqual({ controllers: ['ctl1', 'ctl2', 'ctl3'] });
    // The same variables the local lab's inventory carries.
    const vips = Object.fromEntries(Object.entries(topo.vips).map(([k, o]) => [k, nodeAddress(SUBNET, o)]));
    expect(inv.vars).toEqual({ lab_subnet: SUBNET, ...vips });
    expect(inv.vars).toMatchObject({ lab_subnet: '10.77.0.0/24', vip: '10.77.0.100', pcs_vip: '10.77.0.99' });
    expect(inv.description).toBe('Vagrant lab (infra3, libvirt) on 10.77.0.0/24');
  });

  it('keeps VirtualBox forwarded ports per host', () => {
    const doc = buildVagrantInventory({ ...lab, vagrantProvider: 'virtualbox' }, parseSshConfig(VIRTUALBOX), topo.vips);
    const inv = parseInventory(vagrantInventoryText(doc), path.resolve('inventory.yaml'));
    expect(Object.values(inv.hosts).map((h) => `${h.user}@${h.address}:${h.port}`)).toEqual(['root@127.0.0.1:2222', 'root@127.0.0.1:2200', 'root@127.0.0.1:2201']);
    expect(inv.hosts.ctl2.keyFile).toBe(`${STATE}/ctl2/virtualbox/private_key`);
  });

  it('follows the subnet of the lab and groups of the full topology', () => {
    const subnet = '10.99.0.0/24';
    const nodes = Object.entries(topo.topologies.full.nodes).map(([name, n]) => ({ name, address: nodeAddress(subnet, n.octet), groups: n.groups }));
    const ssh = nodes.map((n, i) => ({ host: n.name, hostName: `192.168.121.${10 + i}`, port: 22, user: 'vagrant', identityFiles: [`/k/${n.name}`] }));
    const doc = buildVagrantInventory({ name: 'big', topology: 'full', subnet, nodes }, ssh, topo.vips);
    const inv = parseInventory(vagrantInventoryText(doc), path.resolve('inventory.yaml'));
    expect(inv.groups).toEqual({ controllers: ['ctl1', 'ctl2', 'ctl3'], computes: ['cmp1', 'cmp2'], storage: ['stor1', 'stor2', 'stor3'] });
    expect(inv.vars.vip).toBe('10.99.0.100');
    expect(inv.hosts.stor3.vars.lab_address).toBe('10.99.0.33');
  });

  it('names the node that vagrant ssh-config left out', () => {
    const two = parseSshConfig(VIRTUALBOX).slice(0, 2);
    const err = (() => {
      try {
        buildVagrantInventory(lab, two, topo.vips);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LabError);
    expect((err as LabError).message).toMatch(/no entry for ctl3/);
    expect((err as LabError).where).toBe('ctl3');
  });

  it('refuses a ProxyCommand (a remote libvirt host) with what to do instead', () => {
    const ssh = parseSshConfig(LIBVIRT);
    ssh[1].proxyCommand = 'ssh virt-host -W %h:%p';
    expect(() => buildVagrantInventory(lab, ssh, topo.vips)).toThrow(/ctl2 through a ProxyCommand/);
  });
});

describe('parseMachineReadableStatus', () => {
  it('reads each machine\'s provider and state', () => {
    const text = [
      '1732540000,ctl1,metadata,provider,libvirt',
      '1732540000,ctl2,metadata,provider,libvirt',
      '1732540000,ctl3,metadata,provider,libvirt',
      '1732540001,ctl1,provider-name,libvirt',
      '1732540001,ctl1,state,running',
      '1732540001,ctl1,state-human-short,running',
      '1732540001,ctl1,state-human-long,The Libvirt domain is running. To stop this machine%!(VAGRANT_COMMA) you can run\\n`vagrant halt`.',
      '1732540001,ctl2,provider-name,libvirt',
      '1732540001,ctl2,state,shutoff',
      '1732540001,ctl2,state-human-short,shutoff',
      '1732540001,ctl3,provider-name,libvirt',
      '1732540001,ctl3,state,not_created',
      '1732540001,,ui,info,Current machine states:\\n\\nctl1 running (libvirt)',
      '',
    ].join('\n');
    const st = parseMachineReadableStatus(text);
    expect(st.map((m) => [m.name, m.provider, m.state])).toEqual([
      ['ctl1', 'libvirt', 'running'],
      ['ctl2', 'libvirt', 'shutoff'],
      ['ctl3', 'libvirt', 'not_created'],
    ]);
    expect(st[0].description).toBe('The Libvirt domain is running. To stop this machine, you can run\n`vagrant halt`.');
  });
});

describe('vagrant failures and machine records', () => {
  it('takes the message of a machine-readable error-exit line', () => {
    const out = '1732540000,,ui,error,No usable default provider could be found for your system.\\n\\nVagrant relies on...\n1732540000,,error-exit,Vagrant::Errors::NoDefaultProvider,No usable default provider could be found for your system.\\n\\nVagrant relies on interactions with 3rd party systems%!(VAGRANT_COMMA) known as\n';
    expect(machineReadableError(out)).toBe('No usable default provider could be found for your system.');
  });

  it('counts the machines Vagrant created for a lab from its dotfile directory', () => {
    const dot = vagrantEnv({ name: 'records', topology: 'infra3', subnet: SUBNET }, {}).VAGRANT_DOTFILE_PATH;
    expect(createdMachines('records')).toEqual([]);
    mkdirSync(path.join(dot, 'machines/ctl1/libvirt'), { recursive: true });
    mkdirSync(path.join(dot, 'machines/ctl2/libvirt'), { recursive: true });
    writeFileSync(path.join(dot, 'machines/ctl1/libvirt/id'), '2f0c6b8e-0000-4000-8000-000000000001');
    expect(createdMachines('records')).toEqual([{ node: 'ctl1', provider: 'libvirt' }]);
  });
});

describe('the Vagrantfile interface', () => {
  it('finds the topology line among Vagrant\'s own output', () => {
    const plan = parseTopologyLine('==> ctl1: Ignoring provider config for validation...\nDRILLBOOK_TOPOLOGY_JSON {"lab":"x","topology":"infra3","subnet":"10.77.0.0/24","vips":{},"nodes":[]}\nVagrantfile validated successfully.\n');
    expect(plan.topology).toBe('infra3');
    expect(() => parseTopologyLine('Vagrantfile validated successfully.\n')).toThrow(LabError);
  });

  it('gives vagrant the lab\'s shape and never an inherited node limit', () => {
    const env = vagrantEnv({ name: 'v1', topology: 'full', subnet: '10.99.0.0/24' }, { PATH: '/usr/bin', DRILLBOOK_NODES: '2', DRILLBOOK_PRINT_TOPOLOGY: '1', VAGRANT_VAGRANTFILE: 'Other' });
    expect(env).toMatchObject({ PATH: '/usr/bin', DRILLBOOK_LAB_NAME: 'v1', DRILLBOOK_TOPOLOGY: 'full', DRILLBOOK_LAB_SUBNET: '10.99.0.0/24' });
    expect(env.DRILLBOOK_NODES).toBeUndefined();
    expect(env.DRILLBOOK_PRINT_TOPOLOGY).toBeUndefined();
    expect(env.VAGRANT_VAGRANTFILE).toBeUndefined();
    expect(env.VAGRANT_DOTFILE_PATH).toMatch(/labs\/v1\/vagrant$/);
    expect(path.join(env.VAGRANT_CWD, 'Vagrantfile')).toMatch(/Vagrantfile$/);
    expect(vagrantEnv({ name: 'v1', topology: 'full', subnet: '10.99.0.0/24', nodeLimit: 4 }, {}).DRILLBOOK_NODES).toBe('4');
  });
});
