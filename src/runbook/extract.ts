/**
 * The one extractor: the only code that knows how a step is written in MDX.
 * The Astro build uses it through remark-steps.ts; the server and the CLI
 * call `extractChapterSource` on the same files. Malformed steps are
 * reported with file:line and a plain message.
 */
import { createHash } from 'node:crypto';
import remarkMdx from 'remark-mdx';
import remarkParse from 'remark-parse';
import { unified } from 'unified';
import { visitParents } from 'unist-util-visit-parents';
import type { Root, Code } from 'mdast';
import type { MdxJsxFlowElement, MdxJsxTextElement } from 'mdast-util-mdx-jsx';
import { StepSyntaxError } from './errors.ts';
import { ChapterFrontmatterSchema, type ChapterFrontmatter, type VarDecl } from './schema.ts';
import { loadTopologies, targetNames } from './topology.ts';
import { STEP_KINDS, type Chapter, type ClusterMapSpec, type Drill, type Expectation, type Step, type StepComponent } from './types.ts';
import { BUILTIN_VARS, isInline, templateNames } from './vars.ts';
import { locateIssues, parseYamlSource } from './yaml-source.ts';
import { own } from './own.ts';

export const STEP_ATTRIBUTES = ['id', 'title', 'on', 'where', 'expect', 'retries', 'delay', 'timeout', 'confirm', 'needs'] as const;
type Attr = (typeof STEP_ATTRIBUTES)[number];

/** Default overall limit of a step on one host. */
export const DEFAULT_TIMEOUT_MS = 30 * 60_000;

type JsxElement = MdxJsxFlowElement | MdxJsxTextElement;

export function isStepElement(node: { type: string; name?: string | null }): node is JsxElement {
  return (node.type === 'mdxJsxFlowElement' || node.type === 'mdxJsxTextElement') && !!node.name && own(STEP_KINDS, node.name) !== undefined;
}

/** Parse a duration such as 500ms, 2s, 1.5m, 1h. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

/**
 * `expect`: `exit=0`, `exit=0,1`, `/regex/flags`, or both: `exit=1 /regex/`.
 * Returns an error message instead of throwing so the caller adds file:line.
 */
export function parseExpect(text: string): Expectation | string {
  let rest = text.trim();
  const out: Expectation = { exit: [0] };
  const exit = /^exit=([0-9,]+)(\s+|$)/.exec(rest);
  if (exit) {
    const codes = exit[1].split(',').filter(Boolean).map(Number);
    if (!codes.length || codes.some((c) => !Number.isInteger(c) || c > 255)) return `bad exit codes "${exit[1]}": use numbers 0-255, e.g. exit=0,1`;
    out.exit = codes;
    rest = rest.slice(exit[0].length);
  }
  if (rest) {
    const re = /^\/(.*)\/([dgimsuy]*)$/s.exec(rest);
    if (!re) return `cannot read expect="${text}": write exit=N, /stdout regex/ or both (exit=1 /pattern/)`;
    try {
      new RegExp(re[1], re[2]);
    } catch (e) {
      return `bad stdout pattern /${re[1]}/: ${(e as Error).message}`;
    }
    // Line-oriented, like grep: ^ and $ match at every line of stdout.
    const flags = re[2].replace('g', '');
    out.stdout = { source: re[1], flags: flags.includes('m') ? flags : `${flags}m` };
  }
  if (!exit && !rest) return 'expect="" is empty';
  return out;
}

interface AttrValue {
  present: boolean;
  value: string | number | boolean | null;
  line: number;
}

function readAttributes<A extends string = Attr>(node: JsxElement, where: (line: number) => string, errors: StepSyntaxError[], allowed: readonly string[] = STEP_ATTRIBUTES): Map<A, AttrValue> {
  const out = new Map<A, AttrValue>();
  for (const a of node.attributes) {
    const line = a.position?.start.line ?? node.position?.start.line ?? 0;
    if (a.type !== 'mdxJsxAttribute') {
      errors.push(new StepSyntaxError(`<${node.name}> cannot take a spread {...} attribute`, where(line), 'write each attribute out'));
      continue;
    }
    if (!allowed.includes(a.name)) {
      errors.push(new StepSyntaxError(`unknown attribute "${a.name}" on <${node.name}>`, where(line), `allowed: ${allowed.join(', ')}`));
      continue;
    }
    let value: AttrValue['value'];
    if (a.value === null || a.value === undefined) value = true;
    else if (typeof a.value === 'string') value = a.value;
    else {
      // {10}, {true}, {"text"}: only literals, because the server reads the
      // same file without running any JavaScript.
      const src = a.value.value.trim();
      try {
        const parsed = JSON.parse(src);
        if (!['number', 'boolean', 'string'].includes(typeof parsed)) throw new Error('not a literal');
        value = parsed;
      } catch {
        errors.push(new StepSyntaxError(`attribute ${a.name}={${src}} must be a literal (number, true/false or a quoted string)`, where(line)));
        continue;
      }
    }
    out.set(a.name as A, { present: true, value, line });
  }
  return out;
}

export interface ExtractContext {
  /** Path shown in errors (relative to the project root). */
  file: string;
  slug: string;
  frontmatter: ChapterFrontmatter;
  /** Project root, to find labs/topologies.yaml. */
  root?: string;
}

/** Find every step element in a parsed MDX tree and turn it into a Step. */
export function extractSteps(tree: Root, ctx: ExtractContext): { steps: Step[]; errors: StepSyntaxError[] } {
  const errors: StepSyntaxError[] = [];
  const steps: Step[] = [];
  const seen = new Map<string, number>();
  const where = (line: number) => `${ctx.file}:${line}`;
  const fm = ctx.frontmatter;
  const topologies = loadTopologies(ctx.root);
  const targets = fm.lab === 'none' ? undefined : targetNames(topologies, fm.lab);
  const declared = { ...BUILTIN_VARS, ...fm.vars };

  visitParents(tree, (node, ancestors) => {
    if (!isStepElement(node as { type: string; name?: string })) return;
    const el = node as JsxElement;
    const line = el.position?.start.line ?? 0;
    const component = el.name as StepComponent;
    const drillEl = ancestors.find((a) => (a as JsxElement).name === 'Drill') as JsxElement | undefined;
    const drillId = drillEl?.attributes.find((a) => a.type === 'mdxJsxAttribute' && a.name === 'id')?.value;
    const attrs = readAttributes(el, where, errors);
    const str = (name: Attr): string | undefined => attrString(attrs, name, where, errors);

    const id = str('id');
    if (!id) {
      errors.push(new StepSyntaxError(`<${component}> has no id`, where(line), 'add id="short-kebab-name", unique in the chapter'));
      return;
    }
    if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(id)) {
      errors.push(new StepSyntaxError(`step id "${id}" must be lower-case letters, digits and dashes`, where(line)));
    }
    if (seen.has(id)) {
      errors.push(new StepSyntaxError(`duplicate step id "${id}" (first used on line ${seen.get(id)})`, where(line), 'step ids must be unique within a chapter'));
    } else seen.set(id, line);

    const title = str('title');
    if (!title) errors.push(new StepSyntaxError(`step "${id}" has no title`, where(line), 'add title="What this step does"'));

    const on = str('on');
    if (!on) errors.push(new StepSyntaxError(`step "${id}" has no on= (target hosts)`, where(line), 'use a host, a group, a comma list, or "all"'));
    else if (!targets) {
      errors.push(new StepSyntaxError(`step "${id}" runs on hosts, but the chapter's frontmatter says lab: ${fm.lab}`, where(line), `set lab: to a topology from labs/topologies.yaml (${Object.keys(topologies.topologies).join(', ')})`));
    } else if (on === 'local') {
      // This machine (the one running Drillbook), e.g. to cut a lab node's power from outside.
      if (attrs.has('where')) errors.push(new StepSyntaxError(`step "${id}" runs on="local": where= has no meaning there`, where(attrs.get('where')!.line), 'remove where=, or target lab hosts'));
    } else {
      for (const name of on.split(',').map((s) => s.trim())) {
        if (name === 'local') {
          errors.push(new StepSyntaxError(`on="${on}" of step "${id}" mixes "local" (this machine) with lab hosts`, where(attrs.get('on')!.line), 'a step runs either on this machine (on="local") or on hosts of the inventory'));
          continue;
        }
        if (name === 'all' || targets.hosts.has(name) || targets.groups.has(name)) continue;
        errors.push(new StepSyntaxError(`unknown host or group "${name}" in on="${on}" of step "${id}"`, where(attrs.get('on')!.line), `lab ${fm.lab} has groups ${[...targets.groups].join(', ')} and hosts ${[...targets.hosts].join(', ')}`));
      }
    }

    const whereCmd = str('where');
    let expect: Expectation = { exit: [0] };
    const expectText = str('expect');
    if (expectText !== undefined) {
      const parsed = parseExpect(expectText);
      if (typeof parsed === 'string') errors.push(new StepSyntaxError(parsed, where(attrs.get('expect')!.line)));
      else expect = parsed;
    }

    let retries = 0;
    const r = attrs.get('retries');
    if (r) {
      const n = typeof r.value === 'string' && /^\d+$/.test(r.value) ? Number(r.value) : r.value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 1000) {
        errors.push(new StepSyntaxError(`bad retry value retries=${JSON.stringify(r.value)} in step "${id}"`, where(r.line), 'retries is a whole number of extra attempts, 0-1000, e.g. retries={10}'));
      } else retries = n;
    }
    const duration = (name: 'delay' | 'timeout', fallback: number) => {
      const a = attrs.get(name);
      if (!a) return fallback;
      const ms = typeof a.value === 'string' ? parseDuration(a.value) : undefined;
      if (ms === undefined || ms <= 0) {
        errors.push(new StepSyntaxError(`bad ${name} value ${JSON.stringify(a.value)} in step "${id}"`, where(a.line), `write a duration such as "500ms", "2s", "5m"`));
        return fallback;
      }
      return ms;
    };
    const delayMs = duration('delay', 1000);
    const timeoutMs = duration('timeout', DEFAULT_TIMEOUT_MS);
    if (attrs.has('delay') && !attrs.has('retries')) {
      errors.push(new StepSyntaxError(`step "${id}" sets delay but no retries`, where(attrs.get('delay')!.line), 'delay is the pause between attempts: add retries={N}'));
    }

    const c = attrs.get('confirm');
    if (c && typeof c.value !== 'boolean') errors.push(new StepSyntaxError(`confirm takes no value (or {true}/{false})`, where(c.line)));
    const needsAttr = str('needs');
    if (needsAttr !== undefined && needsAttr !== 'vm') errors.push(new StepSyntaxError(`needs="${needsAttr}" is not known`, where(attrs.get('needs')!.line), 'the only value is needs="vm": the step needs real VMs'));

    const code = singleCode(el, `step "${id}"`, where, errors);
    if (!code) return;
    const used = checkTemplates([['script', code.value, code.position?.start.line ?? line], ['where', whereCmd ?? '', attrs.get('where')?.line ?? line]], `step "${id}"`, declared, where, errors);

    if (!id || !title || !on) return;
    const step: Omit<Step, 'hash'> = {
      id,
      globalId: `${ctx.slug}/${id}`,
      chapter: ctx.slug,
      kind: STEP_KINDS[component],
      title,
      on,
      where: whereCmd,
      expect,
      retries,
      delayMs,
      timeoutMs,
      confirm: c?.value === true,
      needs: needsAttr === 'vm' ? 'vm' : undefined,
      lang: 'bash',
      script: code.value,
      vars: used,
      file: ctx.file,
      line,
      drill: typeof drillId === 'string' ? drillId : undefined,
    };
    steps.push({ ...step, hash: stepHash(step) });
  });
  return { steps, errors };
}


/** The one bash code block of a component, or an error saying what is wrong. */
function singleCode(el: JsxElement, what: string, where: (line: number) => string, errors: StepSyntaxError[]): Code | undefined {
  const line = el.position?.start.line ?? 0;
  const codes = el.children.filter((ch) => ch.type === 'code') as Code[];
  if (codes.length === 0) {
    errors.push(new StepSyntaxError(`${what} has no code block`, where(line), 'put the script in a fenced ```bash block inside the component'));
    return undefined;
  }
  if (codes.length > 1) {
    errors.push(new StepSyntaxError(`${what} has ${codes.length} code blocks; a step runs exactly one`, where(codes[1].position?.start.line ?? line), 'split it into two steps'));
  }
  const code = codes[0];
  const lang = code.lang ?? '';
  if (!['bash', 'sh', 'shell'].includes(lang)) {
    errors.push(new StepSyntaxError(`${what} code block is "${lang || 'unlabelled'}"; steps run bash`, where(code.position?.start.line ?? line), 'label the fence ```bash'));
  }
  return code;
}

/** Check every {{name}} in the given texts is declared and inline-safe; returns the names used. */
function checkTemplates(texts: (readonly [string, string, number])[], what: string, declared: Record<string, VarDecl>, where: (line: number) => string, errors: StepSyntaxError[]): string[] {
  const used = new Set<string>();
  for (const [label, text, at] of texts) {
    const { names, malformed } = templateNames(text);
    for (const bad of malformed) errors.push(new StepSyntaxError(`malformed placeholder ${bad} in the ${label} of ${what}`, where(at), 'write {{name}} with a lower_snake_case name'));
    for (const n of names) {
      const decl = own(declared, n);
      if (!decl) errors.push(new StepSyntaxError(`variable "${n}" used in ${what} is not declared`, where(at), `declare it under vars: in the chapter frontmatter, e.g. ${n}: { type: ipv4 }`));
      else if (!isInline(decl)) errors.push(new StepSyntaxError(`variable "${n}" is ${decl.type}; it cannot be written as {{${n}}}`, where(at), `use "$${n}": it reaches the script as an environment variable`));
      used.add(n);
    }
  }
  return [...used].sort();
}

function attrString(attrs: Map<string, AttrValue>, name: string, where: (line: number) => string, errors: StepSyntaxError[]): string | undefined {
  const a = attrs.get(name);
  if (!a) return undefined;
  if (typeof a.value !== 'string') {
    errors.push(new StepSyntaxError(`attribute ${name} must be a string`, where(a.line)));
    return undefined;
  }
  return a.value;
}

function attrDuration(attrs: Map<string, AttrValue>, name: string, fallback: number, what: string, where: (line: number) => string, errors: StepSyntaxError[]): number {
  const a = attrs.get(name);
  if (!a) return fallback;
  const ms = typeof a.value === 'string' ? parseDuration(a.value) : undefined;
  if (ms === undefined || ms <= 0) {
    errors.push(new StepSyntaxError(`bad ${name} value ${JSON.stringify(a.value)} in ${what}`, where(a.line), 'write a duration such as "200ms", "2s", "1m"'));
    return fallback;
  }
  return ms;
}

export const DRILL_ATTRIBUTES = ['id', 'title', 'baseline', 'settle'] as const;
export const PROBE_ATTRIBUTES = ['from', 'interval', 'timeout'] as const;
export const MAP_ATTRIBUTES = ['id', 'title', 'on', 'interval'] as const;

/** Drills and cluster maps, read with the same rules as steps. */
export function extractDrillsAndMaps(tree: Root, steps: Step[], ctx: ExtractContext): { drills: Drill[]; maps: ClusterMapSpec[]; errors: StepSyntaxError[] } {
  const errors: StepSyntaxError[] = [];
  const drills: Drill[] = [];
  const maps: ClusterMapSpec[] = [];
  const where = (line: number) => `${ctx.file}:${line}`;
  const fm = ctx.frontmatter;
  const topologies = loadTopologies(ctx.root);
  const targets = fm.lab === 'none' ? undefined : targetNames(topologies, fm.lab);
  const declared = { ...BUILTIN_VARS, ...fm.vars };
  const ids = new Map<string, number>(steps.map((s) => [s.id, s.line]));
  const checkId = (id: string | undefined, what: string, line: number) => {
    if (!id) {
      errors.push(new StepSyntaxError(`<${what}> has no id`, where(line), 'add id="short-kebab-name", unique in the chapter'));
      return false;
    }
    if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(id)) errors.push(new StepSyntaxError(`id "${id}" must be lower-case letters, digits and dashes`, where(line)));
    if (ids.has(id)) {
      errors.push(new StepSyntaxError(`duplicate id "${id}" (first used on line ${ids.get(id)})`, where(line), 'ids of steps, drills and maps must be unique within a chapter'));
      return false;
    }
    ids.set(id, line);
    return true;
  };
  const checkOn = (on: string, what: string, line: number) => {
    if (!targets) {
      errors.push(new StepSyntaxError(`${what} runs on hosts, but the chapter's frontmatter says lab: ${fm.lab}`, where(line)));
      return;
    }
    for (const name of on.split(',').map((x) => x.trim())) {
      if (name === 'all' || name === 'local' || targets.hosts.has(name) || targets.groups.has(name)) continue;
      errors.push(new StepSyntaxError(`unknown host or group "${name}" in ${what}`, where(line), `lab ${fm.lab} has groups ${[...targets.groups].join(', ')} and hosts ${[...targets.hosts].join(', ')}`));
    }
  };

  visitParents(tree, (node, ancestors) => {
    const el = node as JsxElement;
    if (node.type !== 'mdxJsxFlowElement' && node.type !== 'mdxJsxTextElement') return;
    const line = el.position?.start.line ?? 0;
    if (el.name === 'Probe' && !ancestors.some((a) => (a as JsxElement).name === 'Drill')) {
      errors.push(new StepSyntaxError('<Probe> only has meaning inside a <Drill>', where(line)));
      return;
    }
    if (el.name === 'Drill') {
      const attrs = readAttributes<string>(el, where, errors, DRILL_ATTRIBUTES);
      const id = attrString(attrs, 'id', where, errors);
      const title = attrString(attrs, 'title', where, errors);
      if (!checkId(id, 'Drill', line)) return;
      const what = `drill "${id}"`;
      if (!title) errors.push(new StepSyntaxError(`${what} has no title`, where(line)));
      const probes = el.children.filter((c) => (c as JsxElement).name === 'Probe') as JsxElement[];
      if (probes.length !== 1) {
        errors.push(new StepSyntaxError(`${what} needs exactly one <Probe>, found ${probes.length}`, where(line), 'the probe is what measures the outage: e.g. an HTTP request to the VIP every 200ms'));
        return;
      }
      const p = probes[0];
      const pLine = p.position?.start.line ?? line;
      const pAttrs = readAttributes<string>(p, where, errors, PROBE_ATTRIBUTES);
      const from = attrString(pAttrs, 'from', where, errors) ?? 'local';
      if (from.includes(',')) errors.push(new StepSyntaxError(`the probe of ${what} runs from one place: "local" or one host or group`, where(pLine)));
      else checkOn(from, `the probe of ${what}`, pLine);
      const intervalMs = attrDuration(pAttrs, 'interval', 200, `the probe of ${what}`, where, errors);
      const timeoutMs = attrDuration(pAttrs, 'timeout', 1000, `the probe of ${what}`, where, errors);
      const code = singleCode(p, `the probe of ${what}`, where, errors);
      if (!code) return;
      const vars = checkTemplates([['probe', code.value, code.position?.start.line ?? pLine]], `the probe of ${what}`, declared, where, errors);
      const mine = steps.filter((s) => s.drill === id);
      const ofKind = (k: string) => mine.filter((s) => s.kind === k);
      if (ofKind('deploy').length) errors.push(new StepSyntaxError(`${what} contains a <Step>; a drill holds one <Break>, one <Verify> (the recovery condition) and at most one <Recover>`, where(ofKind('deploy')[0].line)));
      if (ofKind('break').length !== 1) errors.push(new StepSyntaxError(`${what} needs exactly one <Break>, found ${ofKind('break').length}`, where(line)));
      if (ofKind('verify').length !== 1) errors.push(new StepSyntaxError(`${what} needs exactly one <Verify> (the recovery condition), found ${ofKind('verify').length}`, where(line)));
      if (ofKind('recover').length > 1) errors.push(new StepSyntaxError(`${what} has ${ofKind('recover').length} <Recover> steps; at most one`, where(line)));
      if (ofKind('break').length !== 1 || ofKind('verify').length !== 1 || !title) return;
      const drill: Omit<Drill, 'hash'> = {
        id: id!,
        globalId: `${ctx.slug}/${id}`,
        chapter: ctx.slug,
        title,
        probe: { from, intervalMs, timeoutMs, script: code.value, vars, line: pLine },
        breakStep: ofKind('break')[0].globalId,
        verifyStep: ofKind('verify')[0].globalId,
        recoverStep: ofKind('recover')[0]?.globalId,
        baselineMs: attrDuration(attrs, 'baseline', 2000, what, where, errors),
        settleMs: attrDuration(attrs, 'settle', 3000, what, where, errors),
        file: ctx.file,
        line,
      };
      const parts = mine.map((s) => s.hash).join(',');
      drills.push({ ...drill, hash: createHash('sha256').update(JSON.stringify({ ...drill, file: undefined, line: undefined, parts })).digest('hex').slice(0, 16) });
      return;
    }
    if (el.name === 'ClusterMap') {
      const attrs = readAttributes<string>(el, where, errors, MAP_ATTRIBUTES);
      const id = attrString(attrs, 'id', where, errors);
      if (!checkId(id, 'ClusterMap', line)) return;
      const what = `cluster map "${id}"`;
      const on = attrString(attrs, 'on', where, errors) ?? 'all';
      checkOn(on, what, line);
      const code = singleCode(el, what, where, errors);
      if (!code) return;
      const vars = checkTemplates([['script', code.value, code.position?.start.line ?? line]], what, declared, where, errors);
      const map: Omit<ClusterMapSpec, 'hash'> = {
        id: id!,
        globalId: `${ctx.slug}/${id}`,
        chapter: ctx.slug,
        title: attrString(attrs, 'title', where, errors) ?? 'Cluster map',
        on,
        intervalMs: attrDuration(attrs, 'interval', 2000, what, where, errors),
        script: code.value,
        vars,
        file: ctx.file,
        line,
      };
      maps.push({ ...map, hash: createHash('sha256').update(JSON.stringify({ ...map, file: undefined, line: undefined })).digest('hex').slice(0, 16) });
    }
  });
  return { drills, maps, errors };
}

/** Content hash of what a step does (not where it is written). */
export function stepHash(s: Omit<Step, 'hash'>): string {
  const { globalId, kind, on, where, expect, retries, delayMs, timeoutMs, confirm, needs, script } = s;
  const canonical = JSON.stringify({ globalId, kind, on, where, expect, retries, delayMs, timeoutMs, confirm, needs, script });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** Split `---` YAML frontmatter from MDX, keeping line numbers of the body. */
export function splitFrontmatter(text: string): { yaml: string; body: string } {
  const m = /^---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(text);
  if (!m) return { yaml: '', body: text };
  const blank = m[0].replace(/[^\r\n]/g, ' ');
  return { yaml: m[1], body: blank + text.slice(m[0].length) };
}

/** Validate frontmatter; errors carry file:line from the YAML positions. */
export function parseChapterFrontmatter(yamlText: string, file: string): { frontmatter?: ChapterFrontmatter; errors: StepSyntaxError[] } {
  if (!yamlText.trim()) return { errors: [new StepSyntaxError('the chapter has no frontmatter', `${file}:1`, 'start the file with --- chapter: N, title, part, summary ---')] };
  const src = parseYamlSource(yamlText);
  if (src.errors.length) return { errors: src.errors.map((e) => new StepSyntaxError(`frontmatter: ${e.message}`, `${file}:${e.line + 1}`)) };
  const parsed = ChapterFrontmatterSchema.safeParse(src.doc.toJS());
  if (!parsed.success) {
    return { errors: locateIssues(parsed.error, src, file, 1).map((i) => new StepSyntaxError(`frontmatter ${i.message}`, i.where)) };
  }
  return { frontmatter: parsed.data, errors: [] };
}

/** Check the file name agrees with the chapter number: 03-pacemaker.mdx is chapter 3. */
export function checkSlug(slug: string, fm: ChapterFrontmatter, file: string): StepSyntaxError[] {
  const m = /^(\d{2})-[a-z0-9-]+$/.exec(slug);
  if (!m) return [new StepSyntaxError(`chapter file name "${slug}" must look like 03-pacemaker.mdx`, `${file}:1`)];
  if (Number(m[1]) !== fm.chapter) return [new StepSyntaxError(`file name says chapter ${Number(m[1])} but frontmatter says chapter: ${fm.chapter}`, `${file}:2`)];
  return [];
}

const parser = unified().use(remarkParse).use(remarkMdx);

/** Read one chapter's MDX source into a Chapter (the server/CLI path). */
export function extractChapterSource(text: string, file: string, slug: string, root?: string): { chapter?: Chapter; errors: StepSyntaxError[] } {
  const { yaml, body } = splitFrontmatter(text);
  const fmResult = parseChapterFrontmatter(yaml, file);
  if (!fmResult.frontmatter) return { errors: fmResult.errors };
  let tree: Root;
  try {
    tree = parser.parse(body) as Root;
  } catch (e) {
    const err = e as { line?: number; place?: { line?: number; start?: { line?: number } }; reason?: string; message: string };
    const line = err.line ?? err.place?.line ?? err.place?.start?.line ?? 1;
    return { errors: [new StepSyntaxError(`MDX does not parse: ${err.reason ?? err.message}`, `${file}:${line}`)] };
  }
  const slugErrors = checkSlug(slug, fmResult.frontmatter, file);
  const ctx = { file, slug, frontmatter: fmResult.frontmatter, root };
  const { steps, errors } = extractSteps(tree, ctx);
  const dm = extractDrillsAndMaps(tree, steps, ctx);
  return { chapter: { slug, file, frontmatter: fmResult.frontmatter, steps, drills: dm.drills, maps: dm.maps }, errors: [...slugErrors, ...errors, ...dm.errors] };
}
