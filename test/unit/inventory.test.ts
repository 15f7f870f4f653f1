/**
 * Inventories: parsing with defaults, jump hosts, groups and vars; errors
 * that name file:line; resolving a step's `on=` against the hosts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryError } from '../../src/runbook/errors.ts';
import { projectRoot } from '../../src/runbook/topology.ts';
import { loadInventory, parseInventory, resolveTargets, type Inventory } from '../../server/inventory.ts';

let dir: string;
let file: string;
let rel: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'drillbook-inventory-'));
  file = path.join(dir, 'inventory.yaml');
  rel = path.relative(process.cwd(), file);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq5Y8x0Wc0e1H2lq3a4b5c6d7e8f9g0h1i2j3k4l5m6';

const FULL = [
  'name: lab-local', //                                                        1
  'profile: lab', //                                                           2
  'description: Three controllers behind a bastion', //                        3
  'defaults: { user: admin, port: 2222, key: keys/lab_key, connectTimeout: 3 }', // 4
  'hosts:', //                                                                 5
  '  bastion: { address: 192.0.2.10, user: jump, port: 22, key: ~/.ssh/bastion }', // 6
  '  ctl1: { address: 10.77.0.11, jump: bastion, vars: { priority: 150, primary: true } }', // 7
  `  ctl2: { address: 10.77.0.12, jump: bastion, hostKey: "${HOST_KEY}" }`, // 8
  '  ctl3: { address: ctl3.example.net }', //                                  9
  'groups:', //                                                               10
  '  controllers: [ctl1, ctl2, ctl3]', //                                     11
  '  first: [ctl1]', //                                                       12
  'vars:', //                                                                 13
  '  vip: 10.77.0.100', //                                                    14
  '  mtu: 1450', //                                                           15
  '',
].join('\n');

/** Parse `text` as if read from the temp inventory file; return the error it throws. */
function errorOf(text: string): InventoryError {
  try {
    parseInventory(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(InventoryError);
    return e as InventoryError;
  }
  throw new Error(`parsed without error:\n${text}`);
}

describe('parseInventory: a valid inventory', () => {
  let inv: Inventory;
  beforeAll(() => {
    inv = parseInventory(FULL, file);
  });

  it('reads name, profile, description, file and timeout', () => {
    expect(inv).toMatchObject({ name: 'lab-local', profile: 'lab', description: 'Three controllers behind a bastion', file, connectTimeoutMs: 3000 });
  });

  it('applies defaults to hosts that do not override them, and resolves key paths', () => {
    expect(inv.hosts.ctl1).toEqual({
      name: 'ctl1',
      address: '10.77.0.11',
      port: 2222,
      user: 'admin',
      keyFile: path.join(dir, 'keys', 'lab_key'),
      jump: 'bastion',
      hostKey: undefined,
      vars: { priority: 150, primary: true },
    });
    expect(inv.hosts.bastion).toMatchObject({ port: 22, user: 'jump', keyFile: path.join(os.homedir(), '.ssh', 'bastion'), jump: undefined, vars: {} });
    expect(inv.hosts.ctl2.hostKey).toBe(HOST_KEY);
    expect(inv.hosts.ctl3).toMatchObject({ address: 'ctl3.example.net', port: 2222, user: 'admin' });
    expect(Object.keys(inv.hosts)).toEqual(['bastion', 'ctl1', 'ctl2', 'ctl3']);
  });

  it('keeps groups and vars', () => {
    expect(inv.groups).toEqual({ controllers: ['ctl1', 'ctl2', 'ctl3'], first: ['ctl1'] });
    expect(inv.vars).toEqual({ vip: '10.77.0.100', mtu: 1450 });
  });

  it('fills every default for a minimal inventory', () => {
    const min = parseInventory('name: tiny\nhosts:\n  node1: { address: 10.0.0.1 }\n', file);
    expect(min).toEqual({
      name: 'tiny',
      profile: 'lab',
      description: undefined,
      containers: false,
      file,
      connectTimeoutMs: 10_000,
      hosts: { node1: { name: 'node1', address: '10.0.0.1', port: 22, user: 'root', keyFile: undefined, jump: undefined, hostKey: undefined, vars: {} } },
      groups: {},
      vars: {},
    });
  });

  it('reads a production profile', () => {
    expect(parseInventory(FULL.replace('profile: lab', 'profile: production'), file).profile).toBe('production');
  });
});

describe('loadInventory', () => {
  it('reads a file given by a relative path and records its absolute path', () => {
    writeFileSync(file, FULL);
    const inv = loadInventory(rel);
    expect(inv.file).toBe(file);
    expect(inv.hosts.ctl1.keyFile).toBe(path.join(dir, 'keys', 'lab_key'));
  });

  it('names the missing file and says what to pass instead', () => {
    const missing = path.join(dir, 'nope.yaml');
    expect(() => loadInventory(missing)).toThrow(InventoryError);
    try {
      loadInventory(missing);
    } catch (e) {
      expect((e as InventoryError).toJSON()).toMatchObject({ code: 'inventory', message: 'inventory file not found', where: missing, hint: expect.stringContaining('--inventory FILE') });
    }
  });

  it('reports errors against the file it read', () => {
    writeFileSync(file, 'name: x\nhosts:\n  a: { address: 1.2.3.4 }\ngroups:\n  g: [b]\n');
    expect(() => loadInventory(file)).toThrow(expect.objectContaining({ where: `${rel}:5` }));
  });
});

describe('parseInventory: errors name file:line', () => {
  it('bad YAML: a duplicate key, at the line of the duplicate', () => {
    const e = errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4 }\nhosts:\n  b: { address: 1.2.3.5 }\n');
    expect(e.code).toBe('inventory');
    expect(e.message).toBe('not valid YAML: Map keys must be unique');
    expect(e.where).toBe(`${rel}:4`);
  });

  it('bad YAML: tab indentation, at its line', () => {
    const e = errorOf('name: x\nhosts:\n\ta: { address: 1.2.3.4 }\n');
    expect(e.message).toMatch(/^not valid YAML: Tabs are not allowed/);
    expect(e.where).toBe(`${rel}:3`);
  });

  it('bad YAML: misaligned keys, at the misaligned line', () => {
    const e = errorOf('name: x\nhosts:\n  a:\n    address: 1.2.3.4\n   port: 22\n');
    expect(e.message).toMatch(/^not valid YAML: /);
    expect(e.where).toBe(`${rel}:5`);
  });

  it('an unknown key is named in the message', () => {
    expect(errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4 }\nhots: 1\n').message).toBe("Unrecognized key(s) in object: 'hots'");
    const nested = errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4, adress: 1.2.3.5 }\n');
    expect(nested.message).toBe("hosts.a: Unrecognized key(s) in object: 'adress'");
    expect(nested.where).toBe(`${rel}:3`);
    expect(nested.hint).toContain('inventory.yaml');
  });

  it('an unknown key: at the line of that key', () => {
    const e = errorOf('name: x\nprofile: lab\nhosts:\n  a: { address: 1.2.3.4 }\ngroups: {}\nhots: 1\n');
    expect(e.where).toBe(`${rel}:6`);
  });

  it('an unknown key in a block mapping: at the line of that key', () => {
    const e = errorOf('name: x\nhosts:\n  a:\n    address: 1.2.3.4\n    prot: 22\n');
    expect(e.message).toBe("hosts.a: Unrecognized key(s) in object: 'prot'");
    expect(e.where).toBe(`${rel}:5`);
  });

  it('a group listing an unknown host, at the line of that member', () => {
    const e = errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4 }\ngroups:\n  g:\n    - a\n    - zz\n');
    expect(e.message).toBe('groups.g.1: group g lists unknown host "zz"');
    expect(e.where).toBe(`${rel}:7`);
  });

  it('a jump host that is not in hosts, at the jump line', () => {
    const e = errorOf('name: x\nhosts:\n  a:\n    address: 1.2.3.4\n    jump: nope\n');
    expect(e.message).toBe('hosts.a.jump: jump host "nope" is not in hosts');
    expect(e.where).toBe(`${rel}:5`);
  });

  it('a host that is its own jump host', () => {
    const e = errorOf('name: x\nhosts:\n  a:\n    address: 1.2.3.4\n    jump: a\n');
    expect(e.message).toBe('hosts.a.jump: a host cannot be its own jump host');
    expect(e.where).toBe(`${rel}:5`);
  });

  it('a group named all, at its line', () => {
    const e = errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4 }\ngroups:\n  all: [a]\n');
    expect(e.message).toBe('groups.all: "all" is built in and cannot be redefined');
    expect(e.where).toBe(`${rel}:5`);
  });

  it('a group named like a host', () => {
    const e = errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4 }\ngroups:\n  a: [a]\n');
    expect(e.message).toBe('groups.a: "a" is both a host and a group');
    expect(e.where).toBe(`${rel}:5`);
  });

  it('a missing hosts key', () => {
    const e = errorOf('name: x\nprofile: lab\n');
    expect(e.message).toBe('hosts: Required');
    expect(e.where).toBe(`${rel}:1`);
  });

  it('an empty hosts map, at its line', () => {
    const e = errorOf('name: x\nhosts: {}\n');
    expect(e.message).toBe('hosts: an inventory needs at least one host');
    expect(e.where).toBe(`${rel}:2`);
  });

  it('a bad profile, a bad name and a bad port, each at its own line', () => {
    expect(errorOf('name: x\nprofile: prod\nhosts:\n  a: { address: 1.2.3.4 }\n')).toMatchObject({ where: `${rel}:2`, message: expect.stringContaining("Expected 'lab' | 'production'") });
    expect(errorOf('name: "-x"\nhosts:\n  a: { address: 1.2.3.4 }\n')).toMatchObject({ where: `${rel}:1`, message: expect.stringContaining('inventory names are letters') });
    expect(errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4 }\n  b:\n    address: 1.2.3.5\n    port: 70000\n').where).toBe(`${rel}:6`);
  });

  it('reports every problem in the message and the first one in `where`', () => {
    const e = errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4, jump: j }\ngroups:\n  g: [zz]\n');
    expect(e.message).toContain('group g lists unknown host "zz"');
    expect(e.message).toContain('jump host "j" is not in hosts');
    expect(e.where).toBe(`${rel}:5`);
  });

  it('a group listing "constructor" (not a host) is refused', () => {
    const e = errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4 }\ngroups:\n  g: [a, constructor]\n');
    expect(e.message).toBe('groups.g.1: group g lists unknown host "constructor"');
  });

  it('a jump host "constructor" (not a host) is refused', () => {
    const e = errorOf('name: x\nhosts:\n  a: { address: 1.2.3.4, jump: constructor }\n');
    expect(e.message).toBe('hosts.a.jump: jump host "constructor" is not in hosts');
  });

  // The hint of every schema error sends the reader to this file.
  it('the example inventory that error hints point to exists and is valid', () => {
    const hint = errorOf('name: x\n').hint ?? '';
    const example = /see (\S+) for a complete example/.exec(hint)?.[1];
    expect(example).toBe('labs/example-real/inventory.yaml');
    const inv = loadInventory(path.join(projectRoot(), example!));
    expect(Object.keys(inv.hosts).length).toBeGreaterThan(0);
  });
});

describe('resolveTargets', () => {
  let inv: Inventory;
  beforeAll(() => {
    inv = parseInventory(FULL, file);
  });
  const names = (on: string, i = inv) => resolveTargets(i, on, 'chapter.mdx:12').map((h) => h.name);

  it('a host', () => {
    expect(names('ctl2')).toEqual(['ctl2']);
    expect(resolveTargets(inv, 'ctl2', 'x')[0]).toBe(inv.hosts.ctl2);
  });

  it('a group', () => {
    expect(names('controllers')).toEqual(['ctl1', 'ctl2', 'ctl3']);
    expect(names('first')).toEqual(['ctl1']);
  });

  it('a comma list: inventory order, no duplicates, spaces ignored', () => {
    expect(names('ctl3, first')).toEqual(['ctl1', 'ctl3']);
    expect(names('first,ctl1 ,controllers')).toEqual(['ctl1', 'ctl2', 'ctl3']);
    expect(names('ctl3,bastion')).toEqual(['bastion', 'ctl3']);
  });

  it('all: every host except those that only serve as jump hosts', () => {
    expect(names('all')).toEqual(['ctl1', 'ctl2', 'ctl3']);
    const grouped = parseInventory(FULL.replace('  first: [ctl1]', '  first: [ctl1]\n  gateways: [bastion]'), file);
    expect(names('all', grouped)).toEqual(['bastion', 'ctl1', 'ctl2', 'ctl3']);
    const flat = parseInventory('name: x\nhosts:\n  b: { address: 1.2.3.5 }\n  a: { address: 1.2.3.4 }\n', file);
    expect(names('all', flat)).toEqual(['b', 'a']);
  });

  it('an unknown name: an InventoryError naming it, where the step is, and what exists', () => {
    for (const on of ['nope', 'ctl1,nope', 'Controllers', 'ctl4']) {
      let err: unknown;
      try {
        resolveTargets(inv, on, 'chapter.mdx:12');
      } catch (e) {
        err = e;
      }
      expect(err, on).toBeInstanceOf(InventoryError);
      expect((err as InventoryError).toJSON()).toEqual({
        code: 'inventory',
        message: `inventory "lab-local" has no host or group "${on.split(',').pop()}"`,
        where: 'chapter.mdx:12',
        hint: 'groups: controllers, first; hosts: bastion, ctl1, ctl2, ctl3',
      });
    }
    const flat = parseInventory('name: x\nhosts:\n  a: { address: 1.2.3.4 }\n', file);
    expect(() => resolveTargets(flat, 'b', 'w')).toThrow(expect.objectContaining({ hint: 'groups: (none); hosts: a' }));
  });

  it('an unknown name "constructor": an InventoryError', () => {
    expect(() => resolveTargets(inv, 'constructor', 'chapter.mdx:12')).toThrow(InventoryError);
  });
});
