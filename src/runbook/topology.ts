/** Lab topologies (labs/topologies.yaml): node names, groups, address plan. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InventoryError } from './errors.ts';
import { TopologyFileSchema, type TopologyFile } from './schema.ts';
import { locateIssues, parseYamlSource } from './yaml-source.ts';

/** The repository root: the folder holding labs/topologies.yaml. */
export function projectRoot(): string {
  const starts = [path.dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      if (existsSync(path.join(dir, 'labs', 'topologies.yaml')) && existsSync(path.join(dir, 'package.json'))) return dir;
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new InventoryError('cannot find the Drillbook project root (labs/topologies.yaml)', process.cwd());
}

const cache = new Map<string, TopologyFile>();

export function loadTopologies(root = projectRoot()): TopologyFile {
  const file = path.join(root, 'labs', 'topologies.yaml');
  const hit = cache.get(file);
  if (hit) return hit;
  const src = parseYamlSource(readFileSync(file, 'utf8'));
  const rel = path.relative(process.cwd(), file) || file;
  if (src.errors.length) throw new InventoryError(src.errors[0].message, `${rel}:${src.errors[0].line}`);
  const parsed = TopologyFileSchema.safeParse(src.doc.toJS());
  if (!parsed.success) {
    const [first] = locateIssues(parsed.error, src, rel);
    throw new InventoryError(first.message, first.where);
  }
  cache.set(file, parsed.data);
  return parsed.data;
}

/** Names a step's `on=` may use for a topology: `all`, node names, group names. */
export function targetNames(topo: TopologyFile, name: string): { hosts: Set<string>; groups: Set<string> } | undefined {
  const t = topo.topologies[name];
  if (!t) return undefined;
  const hosts = new Set(Object.keys(t.nodes));
  const groups = new Set(Object.values(t.nodes).flatMap((n) => n.groups));
  return { hosts, groups };
}

/** Address of a node: the subnet's first three octets plus the node's octet. */
export function nodeAddress(subnet: string, octet: number): string {
  return `${subnet.split('.').slice(0, 3).join('.')}.${octet}`;
}
