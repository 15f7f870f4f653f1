/**
 * Inventories: the hosts a runbook runs on. YAML, schema-validated, with
 * errors that name file:line.
 *
 *   name: lab-local
 *   profile: lab            # lab | production
 *   defaults: { user: root, port: 22, key: lab_key }
 *   hosts:
 *     ctl1: { address: 10.77.0.11, vars: { priority: 150 } }
 *     bastion: { address: 192.0.2.10 }
 *     ctl2: { address: 10.77.0.12, jump: bastion }
 *   groups:
 *     controllers: [ctl1, ctl2]
 *   vars:
 *     vip: 10.77.0.100
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { InventoryError } from '../src/runbook/errors.ts';
import { locateIssues, parseYamlSource } from '../src/runbook/yaml-source.ts';
import { own } from '../src/runbook/own.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const scalar = z.union([z.string(), z.number(), z.boolean()]);

const HostSchema = z
  .object({
    /** Host name or IP address to connect to. */
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/i).optional(),
    /** Private key file (relative to the inventory file, or ~/...). */
    key: z.string().optional(),
    /** Another host of this inventory to tunnel through. */
    jump: z.string().regex(NAME).optional(),
    /** Expected host key, `ssh-ed25519 AAAA...`; required for production unless in known_hosts. */
    hostKey: z.string().regex(/^[a-z0-9-]+(@[a-z.]+)? [A-Za-z0-9+/=]+$/).optional(),
    vars: z.record(z.string(), scalar).default({}),
  })
  .strict();

export const InventorySchema = z
  .object({
    name: z.string().regex(NAME, 'inventory names are letters, digits, ".", "_" and "-"'),
    profile: z.enum(['lab', 'production']).default('lab'),
    description: z.string().optional(),
    /**
     * The hosts are containers sharing one kernel (the local lab): steps
     * marked needs="vm" are skipped, never run (a kernel panic there would
     * be the host's).
     */
    containers: z.boolean().default(false),
    defaults: z
      .object({
        port: z.number().int().min(1).max(65535).default(22),
        user: z.string().default('root'),
        key: z.string().optional(),
        /** Seconds to wait for a connection to be ready. */
        connectTimeout: z.number().positive().default(10),
      })
      .strict()
      .default({}),
    hosts: z.record(z.string().regex(NAME), HostSchema).refine((h) => Object.keys(h).length > 0, 'an inventory needs at least one host'),
    groups: z.record(z.string().regex(NAME), z.array(z.string())).default({}),
    vars: z.record(z.string(), scalar).default({}),
  })
  .strict()
  .superRefine((inv, ctx) => {
    for (const [g, members] of Object.entries(inv.groups)) {
      if (g === 'all') ctx.addIssue({ code: 'custom', path: ['groups', g], message: '"all" is built in and cannot be redefined' });
      if (own(inv.hosts, g)) ctx.addIssue({ code: 'custom', path: ['groups', g], message: `"${g}" is both a host and a group` });
      members.forEach((m, i) => {
        if (!own(inv.hosts, m)) ctx.addIssue({ code: 'custom', path: ['groups', g, i], message: `group ${g} lists unknown host "${m}"` });
      });
    }
    for (const [h, host] of Object.entries(inv.hosts)) {
      if (host.jump && !own(inv.hosts, host.jump)) ctx.addIssue({ code: 'custom', path: ['hosts', h, 'jump'], message: `jump host "${host.jump}" is not in hosts` });
      if (host.jump === h) ctx.addIssue({ code: 'custom', path: ['hosts', h, 'jump'], message: 'a host cannot be its own jump host' });
    }
  });

export interface InventoryHost {
  name: string;
  address: string;
  port: number;
  user: string;
  /** Absolute path of the private key. */
  keyFile?: string;
  jump?: string;
  hostKey?: string;
  vars: Record<string, string | number | boolean>;
}

export interface Inventory {
  name: string;
  profile: 'lab' | 'production';
  description?: string;
  containers: boolean;
  /** Absolute path of the file it was read from. */
  file: string;
  connectTimeoutMs: number;
  hosts: Record<string, InventoryHost>;
  groups: Record<string, string[]>;
  vars: Record<string, string | number | boolean>;
}

function expandPath(p: string, base: string): string {
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return path.resolve(base, p);
}

export function parseInventory(text: string, file: string): Inventory {
  const rel = path.relative(process.cwd(), file) || file;
  const src = parseYamlSource(text);
  if (src.errors.length) throw new InventoryError(`not valid YAML: ${src.errors[0].message}`, `${rel}:${src.errors[0].line}`);
  const parsed = InventorySchema.safeParse(src.doc.toJS());
  if (!parsed.success) {
    const issues = locateIssues(parsed.error, src, rel);
    throw new InventoryError(issues.map((i) => `${i.message}`).join('; '), issues[0].where, 'see labs/example-real/inventory.yaml for a complete example');
  }
  const inv = parsed.data;
  const base = path.dirname(file);
  const hosts: Record<string, InventoryHost> = {};
  for (const [name, h] of Object.entries(inv.hosts)) {
    const key = h.key ?? inv.defaults.key;
    hosts[name] = {
      name,
      address: h.address,
      port: h.port ?? inv.defaults.port,
      user: h.user ?? inv.defaults.user,
      keyFile: key ? expandPath(key, base) : undefined,
      jump: h.jump,
      hostKey: h.hostKey,
      vars: h.vars,
    };
  }
  return {
    name: inv.name,
    profile: inv.profile,
    description: inv.description,
    containers: inv.containers,
    file,
    connectTimeoutMs: inv.defaults.connectTimeout * 1000,
    hosts,
    groups: inv.groups,
    vars: inv.vars,
  };
}

export function loadInventory(file: string): Inventory {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new InventoryError(`inventory file not found`, file, 'pass --inventory FILE, or --lab NAME for a lab started with `drillbook lab up`');
  return parseInventory(readFileSync(abs, 'utf8'), abs);
}

/**
 * Resolve a step's `on=` (host, group, comma list, `all`) against an
 * inventory, in inventory order, without duplicates.
 */
export function resolveTargets(inv: Inventory, on: string, where: string): InventoryHost[] {
  const names = new Set<string>();
  for (const part of on.split(',').map((s) => s.trim())) {
    if (part === 'all') {
      // `all` means the cluster's nodes: hosts that only serve as jump hosts are left out.
      const jumps = new Set(Object.values(inv.hosts).map((h) => h.jump).filter(Boolean));
      for (const h of Object.keys(inv.hosts)) if (!jumps.has(h) || Object.values(inv.groups).some((g) => g.includes(h))) names.add(h);
    } else if (own(inv.groups, part)) own(inv.groups, part)!.forEach((h) => names.add(h));
    else if (own(inv.hosts, part)) names.add(part);
    else {
      throw new InventoryError(
        `inventory "${inv.name}" has no host or group "${part}"`,
        where,
        `groups: ${Object.keys(inv.groups).join(', ') || '(none)'}; hosts: ${Object.keys(inv.hosts).join(', ')}`,
      );
    }
  }
  const order = Object.keys(inv.hosts);
  return [...names].sort((a, b) => order.indexOf(a) - order.indexOf(b)).map((n) => inv.hosts[n]);
}

/** A short fingerprint of what an inventory targets (for confirmations and history). */
export function inventoryFingerprint(inv: Inventory): string {
  const hosts = Object.values(inv.hosts).map((h) => `${h.name}=${h.user}@${h.address}:${h.port}`).sort().join(',');
  return createHash('sha256').update(`${inv.name}|${inv.profile}|${hosts}`).digest('hex').slice(0, 12);
}
