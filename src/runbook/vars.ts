/**
 * Variables: `{{name}}` in a script or filter. Values come from the page or
 * CLI (--var), the inventory host, the inventory, or the chapter default, in
 * that order. Every value is checked against its declared type before it
 * gets near a shell.
 */
import { VariableError } from './errors.ts';
import { INLINE_VAR_TYPES, type VarDecl, type VarType } from './schema.ts';
import { own } from './own.ts';

/** Any `{{ ... }}`; the name inside is checked separately so typos are reported, not ignored. */
export const TEMPLATE_RE = /\{\{([^{}]*)\}\}/g;
const NAME_RE = /^\s*([a-z][a-z0-9_]*)\s*$/;

/** Variables every step has without declaring them. */
export const BUILTIN_VARS: Record<string, VarDecl> = {
  host: { type: 'name', description: 'inventory name of the host the script runs on' },
  host_address: { type: 'hostname', description: 'address Drillbook uses to reach that host' },
  inventory: { type: 'name', description: 'name of the target inventory (lab or cluster)' },
};

/** Names used as {{name}} in `text`, or the malformed placeholders found. */
export function templateNames(text: string): { names: string[]; malformed: string[] } {
  const names = new Set<string>();
  const malformed: string[] = [];
  for (const m of text.matchAll(TEMPLATE_RE)) {
    const n = NAME_RE.exec(m[1]);
    if (n) names.add(n[1]);
    else malformed.push(m[0]);
  }
  return { names: [...names], malformed };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const CHECKS: Record<VarType, { test: (v: string) => boolean; expect: string }> = {
  ipv4: { test: (v) => IPV4.test(v), expect: 'an IPv4 address such as 10.77.0.100' },
  cidr: {
    test: (v) => {
      const [ip, len, ...rest] = v.split('/');
      return rest.length === 0 && IPV4.test(ip) && /^(3[0-2]|[12]?\d)$/.test(len ?? '');
    },
    expect: 'an IPv4 network such as 10.77.0.0/24',
  },
  hostname: { test: (v) => HOSTNAME.test(v) || IPV4.test(v), expect: 'a host name or IPv4 address' },
  port: { test: (v) => /^[1-9]\d{0,4}$/.test(v) && Number(v) <= 65535, expect: 'a TCP/UDP port, 1-65535' },
  int: { test: (v) => /^-?(0|[1-9]\d{0,15})$/.test(v), expect: 'an integer' },
  name: { test: (v) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(v), expect: 'a name of letters, digits, ".", "_" and "-" (not starting with "-")' },
  path: { test: (v) => /^[A-Za-z0-9_./][A-Za-z0-9_./-]{0,1023}$/.test(v), expect: 'a path of letters, digits, "/", ".", "_" and "-"' },
  text: { test: (v) => !v.includes('\0') && v.length <= 65536, expect: 'text without NUL bytes, at most 64 KiB' },
  secret: { test: (v) => v.length > 0 && !v.includes('\0') && v.length <= 65536, expect: 'a non-empty secret without NUL bytes' },
};

/** Check one value against its declared type; returns the value as a string. */
export function checkValue(name: string, decl: VarDecl, value: unknown, source: string): string {
  if (value === undefined || value === null) throw new VariableError(`variable "${name}" has no value`, source);
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new VariableError(`variable "${name}" must be ${CHECKS[decl.type].expect}, got ${JSON.stringify(value)}`, source);
  }
  const s = String(value);
  if (!CHECKS[decl.type].test(s)) {
    const shown = decl.type === 'secret' ? '(hidden)' : JSON.stringify(s);
    throw new VariableError(`variable "${name}" must be ${CHECKS[decl.type].expect}; ${shown} is not`, source, 'fix the value; values are never quoted into shell text, they are checked');
  }
  return s;
}

export function isInline(decl: VarDecl): boolean {
  return INLINE_VAR_TYPES.has(decl.type);
}

export interface ValueLayer {
  /** Where these values came from, for error messages ("--var", "inventory.yaml host ctl1"). */
  source: string;
  values: Record<string, unknown>;
}

export interface ResolvedVars {
  /** name -> checked value, for every declared variable that has one. */
  values: Record<string, string>;
  /** Values that must be masked in all output. */
  secrets: string[];
}

/**
 * Resolve declared variables from layers (first wins), check each value.
 * Variables a step needs but nothing provides are an error naming them.
 */
export function resolveVars(
  decls: Record<string, VarDecl>,
  layers: ValueLayer[],
  needed: string[],
  where: string,
): ResolvedVars {
  const values: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [name, decl] of Object.entries(decls)) {
    const layer = layers.find((l) => own(l.values, name) !== undefined);
    const raw = layer ? own(layer.values, name) : decl.default;
    if (raw === undefined) continue;
    const v = checkValue(name, decl, raw, layer?.source ?? `${where} (default)`);
    values[name] = v;
    if (decl.type === 'secret') secrets.push(v);
  }
  const missing = needed.filter((n) => own(values, n) === undefined);
  if (missing.length) {
    throw new VariableError(
      `no value for ${missing.map((m) => `"${m}"`).join(', ')}`,
      where,
      `set it with --var ${missing[0]}=VALUE, in the page, or under vars: in the inventory`,
    );
  }
  return { values, secrets };
}

/** Replace {{name}} placeholders with checked values of inline types. */
export function fillTemplate(text: string, decls: Record<string, VarDecl>, values: Record<string, string>, where: string): string {
  return text.replace(TEMPLATE_RE, (whole, inner: string) => {
    const m = NAME_RE.exec(inner);
    if (!m) throw new VariableError(`malformed placeholder ${whole}`, where);
    const name = m[1];
    const decl = own(decls, name);
    if (!decl) throw new VariableError(`unknown variable "${name}"`, where);
    if (!isInline(decl)) throw new VariableError(`variable "${name}" is ${decl.type} and cannot be written as {{${name}}}`, where, `use "$${name}" in the script: it is exported as an environment variable`);
    const v = own(values, name);
    if (v === undefined) throw new VariableError(`no value for "${name}"`, where);
    return v;
  });
}

/**
 * Hide secrets in streamed text. A secret may be split across chunks, so the
 * masker holds back the tail of each chunk that could be the start of one.
 */
export const MASK = '••••••';
export function createMasker(secrets: string[]) {
  const list = [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
  const keep = list.length ? Math.max(...list.map((s) => s.length)) - 1 : 0;
  let pending = '';
  const mask = (s: string) => list.reduce((acc, secret) => acc.split(secret).join(MASK), s);
  return {
    push(chunk: string): string {
      if (!list.length) return chunk;
      const text = mask(pending + chunk);
      // Hold back a tail that could be the beginning of a secret.
      let hold = 0;
      for (let n = Math.min(keep, text.length); n > 0; n--) {
        const tail = text.slice(text.length - n);
        if (list.some((s) => s.startsWith(tail))) {
          hold = n;
          break;
        }
      }
      pending = text.slice(text.length - hold);
      return text.slice(0, text.length - hold);
    },
    flush(): string {
      const out = mask(pending);
      pending = '';
      return out;
    },
  };
}

export function maskText(text: string, secrets: string[]): string {
  const m = createMasker(secrets);
  return m.push(text) + m.flush();
}
