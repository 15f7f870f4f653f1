/**
 * Commands and options as data: `--help` is generated from this table and
 * the parser reads the same table, so they cannot drift. `parseCli` is pure.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../../src/runbook/errors.ts';
import { own } from '../../src/runbook/own.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  value?: string;
  description: string;
}

export interface CommandSpec {
  summary: string;
  args?: string;
  /** Positional arguments required. */
  minArgs?: number;
  options: Record<string, OptionSpec>;
  examples?: string[];
}

const target: Record<string, OptionSpec> = {
  inventory: { type: 'string', short: 'i', value: 'FILE', description: 'target the hosts of this inventory file' },
  lab: { type: 'string', value: 'NAME', description: 'target a lab started with `drillbook lab up` (default: local)' },
};

export const COMMANDS: Record<string, CommandSpec> = {
  serve: {
    summary: 'Serve the book and the step runner on 127.0.0.1',
    options: {
      port: { type: 'string', short: 'p', value: 'N', description: 'port to listen on (default 4321; 0 picks a free one)' },
      ...target,
      'no-open': { type: 'boolean', description: 'do not open a browser' },
      build: { type: 'boolean', description: 'build the site first when it is missing or older than its sources' },
      terminal: { type: 'boolean', description: 'enable the browser terminal: a full shell on the inventory hosts and on this machine, with its own capability (off by default)' },
      'terminal-idle': { type: 'string', value: 'TIME', description: 'with --terminal: end a terminal after this long without activity, e.g. 30s, 15m, 1h (default 15m)' },
      'session-idle': { type: 'string', value: 'TIME', description: 'end a login session after this long without a request from its page, e.g. 1h (default 12h); `drillbook open` prints a new login link' },
      'allow-breaks': { type: 'boolean', description: 'allow break steps and drills from the page on a production inventory' },
    },
    examples: ['drillbook serve', 'drillbook serve --inventory labs/example-real/inventory.yaml --port 8080', 'drillbook serve --terminal --terminal-idle 30m'],
  },
  open: {
    summary: 'Print (and open in a browser) a fresh login link for the running server',
    options: { 'no-open': { type: 'boolean', description: 'only print the link' } },
  },
  run: {
    summary: 'Run chapters or steps headless, with per-host output and a summary',
    args: '<chapter|chapter/step>...',
    minArgs: 1,
    options: {
      ...target,
      var: { type: 'string', multiple: true, value: 'NAME=VALUE', description: 'set a variable (repeatable); checked against its declared type' },
      'dry-run': { type: 'boolean', short: 'n', description: 'print the resolved scripts and targets; connect to nothing' },
      json: { type: 'boolean', description: 'print one JSON document with every result' },
      confirm: { type: 'string', value: 'NAME', description: 'confirm break/confirm steps by naming the target inventory' },
      'keep-going': { type: 'boolean', description: 'run the remaining steps after a failure' },
      'allow-breaks': { type: 'boolean', description: 'allow break steps on a production inventory (they still need --confirm)' },
      'from-scratch': { type: 'boolean', description: "first run the deploy and verify steps of the chapters it builds on, to bring a fresh lab to the chapter's starting state" },
    },
    examples: ['drillbook run 1', 'drillbook run 01-cloud-computing-and-ha/nodes-answer --lab local', 'drillbook run ch04 --var vip=10.77.0.100 --dry-run'],
  },
  drill: {
    summary: 'Run a drill: break something under a probe and measure the outage and the recovery',
    args: '<chapter/drill-id>',
    minArgs: 1,
    options: {
      ...target,
      var: { type: 'string', multiple: true, value: 'NAME=VALUE', description: 'set a variable (repeatable)' },
      confirm: { type: 'string', value: 'NAME', description: 'confirm the fault by naming the target inventory' },
      repeat: { type: 'string', value: 'N', description: 'run it N times (needs a recover step) and report min/median/max' },
      'allow-breaks': { type: 'boolean', description: 'allow the drill on a production inventory (it still needs --confirm)' },
      'dry-run': { type: 'boolean', short: 'n', description: 'print the probe, the fault and the recovery steps with their targets; connect to nothing' },
      json: { type: 'boolean', description: 'print the results (every probe sample and the figures) as JSON' },
    },
    examples: ['drillbook drill 04-haproxy-and-keepalived/keepalived-killed --confirm local', 'drillbook drill 4/keepalived-killed --confirm local --repeat 5 --json'],
  },
  lab: {
    summary: 'Create and control a lab cluster: up, down, status, start|stop|crash|reset <node>, ssh <node> [cmd]',
    args: '<up|down|status|start|stop|crash|reset|ssh> [node] [command...]',
    minArgs: 1,
    options: {
      name: { type: 'string', value: 'NAME', description: 'which lab (default: local)' },
      topology: { type: 'string', short: 't', value: 'NAME', description: 'lab up: topology from labs/topologies.yaml (default: infra3)' },
      nodes: { type: 'string', value: 'N', description: 'lab up: only the first N nodes of the topology' },
      subnet: { type: 'string', value: 'CIDR', description: 'lab up: the lab\'s /24 (default 10.77.0.0/24, or DRILLBOOK_LAB_SUBNET)' },
      provider: { type: 'string', value: 'local|vagrant', description: 'lab up/down/status: systemd-nspawn containers (default) or Vagrant VMs' },
      rebuild: { type: 'boolean', description: 'lab up: rebuild the base image even if the cached one is current' },
      json: { type: 'boolean', description: 'lab status: print JSON' },
      'dry-run': { type: 'boolean', short: 'n', description: 'up/down/start/stop/crash/reset: print what would be done; change nothing' },
    },
    examples: ['drillbook lab up', 'drillbook lab status', 'drillbook lab crash ctl1', 'drillbook lab start ctl1', 'drillbook lab ssh ctl2 systemctl is-system-running', 'drillbook lab up --provider vagrant --topology full', 'drillbook lab down'],
  },
  history: {
    summary: 'What was run, where, with which result; export a run or a chapter as a change record',
    args: '[list|show RUN|export RUN|CHAPTER]',
    options: {
      chapter: { type: 'string', value: 'N', description: 'list: only this chapter' },
      inventory: { type: 'string', short: 'i', value: 'NAME', description: 'list: only runs on this inventory (by name)' },
      limit: { type: 'string', value: 'N', description: 'list: at most N runs (default 30)' },
      format: { type: 'string', value: 'md|json', description: 'export: Markdown (default) or JSON' },
      json: { type: 'boolean', description: 'list/show: print JSON' },
    },
    examples: ['drillbook history', 'drillbook history show 3f2a9c1e', 'drillbook history export 4 --format md > change-record.md'],
  },
  steps: {
    summary: 'List the runbook: every chapter and its steps',
    args: '[chapter]',
    options: { json: { type: 'boolean', description: 'print the manifest as JSON' } },
    examples: ['drillbook steps', 'drillbook steps 3 --json'],
  },
};

const GLOBAL: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show help' },
  debug: { type: 'boolean', description: 'show stack traces for errors' },
};

export type Parsed =
  | { kind: 'help'; text: string }
  | { kind: 'command'; command: string; args: string[]; values: Record<string, string | boolean | string[] | undefined> };

export function helpText(command?: string): string {
  if (!command) {
    const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
    return [
      'Usage: drillbook <command> [options]',
      '',
      'Commands:',
      ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
      '',
      'Run `drillbook <command> --help` for the options of a command.',
    ].join('\n');
  }
  const c = own(COMMANDS, command)!;
  const opts = { ...c.options, ...GLOBAL };
  const rows = Object.entries(opts).map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`, o.description]);
  const width = Math.max(...rows.map((r) => r[0].length));
  return [
    `Usage: drillbook ${command}${c.args ? ` ${c.args}` : ''} [options]`,
    '',
    c.summary,
    '',
    'Options:',
    ...rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`),
    ...(c.examples?.length ? ['', 'Examples:', ...c.examples.map((e) => `  ${e}`)] : []),
  ].join('\n');
}

export function parseCli(argv: string[]): Parsed {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') return { kind: 'help', text: helpText(rest[0] && own(COMMANDS, rest[0]) ? rest[0] : undefined) };
  const spec = own(COMMANDS, command);
  if (!spec) throw new UsageError(`unknown command "${command}"`, undefined, `commands: ${Object.keys(COMMANDS).join(', ')}`);
  const options = Object.fromEntries(
    Object.entries({ ...spec.options, ...GLOBAL }).map(([k, o]) => [k, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^.*?: /, ''), `drillbook ${command}`, `see drillbook ${command} --help`);
  }
  if (parsed.values.help) return { kind: 'help', text: helpText(command) };
  if (parsed.positionals.length < (spec.minArgs ?? 0)) throw new UsageError(`missing ${spec.args}`, `drillbook ${command}`, `see drillbook ${command} --help`);
  if (!spec.args && parsed.positionals.length) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`, `drillbook ${command}`);
  return { kind: 'command', command, args: parsed.positionals, values: parsed.values as Record<string, string | boolean | string[] | undefined> };
}

/** `--var a=b --var c=d` into { a: 'b', c: 'd' }. */
export function parseVars(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--var ${item}: write NAME=VALUE`, '--var');
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
