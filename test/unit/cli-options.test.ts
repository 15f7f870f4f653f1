/**
 * parseCli is pure: help text and parsing both come from the COMMANDS
 * table, so every option a command defines is documented and parsed.
 * These tests read the table instead of copying it, so they keep covering
 * commands added later.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/runbook/errors.ts';
import { COMMANDS, helpText, parseCli, parseVars, type OptionSpec } from '../../server/cli/options.ts';

const GLOBAL_OPTIONS: Record<string, Pick<OptionSpec, 'short' | 'description'>> = {
  help: { short: 'h', description: 'show help' },
  debug: { description: 'show stack traces for errors' },
};

const commandNames = Object.keys(COMMANDS);

/** Positionals that satisfy a command's minimum. */
const positionalsFor = (cmd: string) => Array.from({ length: COMMANDS[cmd].minArgs ?? 0 }, (_, i) => `arg${i + 1}`);

function usageError(argv: string[]): UsageError {
  try {
    const r = parseCli(argv);
    throw new Error(`parseCli(${JSON.stringify(argv)}) did not throw: ${JSON.stringify(r)}`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    expect(e.code).toBe('usage');
    return e;
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('parseCli: general help', () => {
  it.each([[[]], [['--help']], [['-h']], [['help']], [['help', 'no-such-command']]])('%j prints the list of commands', (argv) => {
    const r = parseCli(argv as string[]);
    expect(r.kind).toBe('help');
    if (r.kind !== 'help') return;
    expect(r.text).toBe(helpText());
    expect(r.text).toMatch(/^Usage: drillbook <command> \[options\]/);
    for (const [name, c] of Object.entries(COMMANDS)) expect(r.text).toMatch(new RegExp(`^  ${escape(name)} +${escape(c.summary)}$`, 'm'));
    expect(r.text).toContain('Run `drillbook <command> --help` for the options of a command.');
  });
});

describe.each(commandNames)('parseCli: %s --help', (cmd) => {
  const spec = COMMANDS[cmd];
  const text = helpText(cmd);

  it('is printed for --help, -h and `help <command>`, without needing positionals', () => {
    for (const argv of [[cmd, '--help'], [cmd, '-h'], ['help', cmd], [cmd, ...positionalsFor(cmd), '--help']]) {
      expect(parseCli(argv), JSON.stringify(argv)).toEqual({ kind: 'help', text });
    }
  });

  it('shows the usage line, the summary and the examples', () => {
    expect(text.split('\n')[0]).toBe(`Usage: drillbook ${cmd}${spec.args ? ` ${spec.args}` : ''} [options]`);
    expect(text).toContain(`\n${spec.summary}\n`);
    for (const ex of spec.examples ?? []) expect(text).toMatch(new RegExp(`^  ${escape(ex)}$`, 'm'));
  });

  it('lists every option the command defines, plus --help and --debug, once each with its description', () => {
    const all: Record<string, Pick<OptionSpec, 'short' | 'value' | 'description'>> = { ...spec.options, ...GLOBAL_OPTIONS };
    const optionLines = text.split('\n').filter((l) => /^ {2}(-\w, )? *--/.test(l));
    expect(optionLines).toHaveLength(Object.keys(all).length);
    for (const [name, o] of Object.entries(all)) {
      const flag = `${o.short ? `-${o.short}, ` : ' {4}'}--${escape(name)}${o.value ? ` ${escape(o.value)}` : ''}`;
      const line = new RegExp(`^  ${flag} +${escape(o.description)}$`, 'm');
      expect(text, `--${name}`).toMatch(line);
      expect(optionLines.filter((l) => l.includes(`--${name} `) || l.endsWith(`--${name}`) || l.includes(`--${name}  `))).toHaveLength(1);
    }
  });
});

describe.each(commandNames)('parseCli: %s parses the options its help lists', (cmd) => {
  const spec = COMMANDS[cmd];
  const pos = positionalsFor(cmd);

  it.each(Object.entries(spec.options))('--%s', (name, o) => {
    const expected = o.type === 'boolean' ? true : o.multiple ? ['v1'] : 'v1';
    const forms = [[`--${name}`, ...(o.type === 'string' ? ['v1'] : [])]];
    if (o.short) forms.push([`-${o.short}`, ...(o.type === 'string' ? ['v1'] : [])]);
    if (o.type === 'string') forms.push([`--${name}=v1`]);
    for (const form of forms) {
      const r = parseCli([cmd, ...pos, ...form]);
      expect(r, JSON.stringify(form)).toMatchObject({ kind: 'command', command: cmd, args: pos });
      if (r.kind === 'command') expect(r.values[name], JSON.stringify(form)).toEqual(expected);
    }
  });

  it('refuses an option it does not define, naming it', () => {
    for (const bad of ['--bogus', '--no-such-option=1', '-Z']) {
      const e = usageError([cmd, ...pos, bad]);
      expect(e.message).toContain(`'${bad.split('=')[0]}'`);
      expect(e.message).toMatch(/^Unknown option/);
      expect(e.where).toBe(`drillbook ${cmd}`);
      expect(e.hint).toBe(`see drillbook ${cmd} --help`);
    }
  });

  it('refuses an option that belongs to another command', () => {
    const foreign = commandNames.flatMap((c) => Object.keys(COMMANDS[c].options)).find((n) => !(n in spec.options));
    expect(foreign, 'some other command has an option this one lacks').toBeDefined();
    expect(usageError([cmd, ...pos, `--${foreign}`]).message).toContain(`'--${foreign}'`);
  });
});

describe('parseCli: commands and positionals', () => {
  it('refuses an unknown command, listing the real ones', () => {
    for (const bad of ['bogus', 'Run', 'server', '--port', 'runn']) {
      const e = usageError([bad, '1']);
      expect(e.message).toBe(`unknown command "${bad}"`);
      expect(e.hint).toBe(`commands: ${commandNames.join(', ')}`);
    }
  });

  it.each(['constructor', 'toString'])('refuses the unknown command %j', (bad) => {
    expect(usageError([bad]).message).toBe(`unknown command "${bad}"`);
  });

  it.each(commandNames.filter((c) => (COMMANDS[c].minArgs ?? 0) > 0))('%s refuses to run without its positional arguments', (cmd) => {
    for (const argv of [[cmd], [cmd, ...Object.entries(COMMANDS[cmd].options).filter(([, o]) => o.type === 'boolean').slice(0, 1).map(([n]) => `--${n}`)]]) {
      const e = usageError(argv);
      expect(e.message).toBe(`missing ${COMMANDS[cmd].args}`);
      expect(e.where).toBe(`drillbook ${cmd}`);
    }
  });

  it('run takes one or more steps or chapters', () => {
    expect(parseCli(['run', '1'])).toMatchObject({ kind: 'command', command: 'run', args: ['1'] });
    expect(parseCli(['run', '01-cloud-computing-and-ha/nodes-answer', 'ch04', '-n'])).toMatchObject({
      args: ['01-cloud-computing-and-ha/nodes-answer', 'ch04'],
      values: { 'dry-run': true },
    });
    expect(usageError(['run']).message).toBe('missing <chapter|chapter/step>...');
  });

  it.each(commandNames.filter((c) => !COMMANDS[c].args))('%s refuses positional arguments it does not take', (cmd) => {
    expect(usageError([cmd, 'extra']).message).toBe('unexpected argument "extra"');
  });

  it('treats everything after -- as positionals', () => {
    expect(parseCli(['run', '--', '--not-an-option'])).toMatchObject({ args: ['--not-an-option'] });
  });

  it('refuses a string option without its value, and a value for a boolean option', () => {
    expect(usageError(['run', '1', '--inventory']).message).toMatch(/--inventory <value>' argument missing/);
    expect(usageError(['run', '1', '--var']).message).toMatch(/--var <value>' argument missing/);
    expect(usageError(['run', '1', '--json=yes']).message).toBe("Option '--json' does not take an argument");
  });

  it('accepts --debug on every command', () => {
    for (const cmd of commandNames) expect(parseCli([cmd, ...positionalsFor(cmd), '--debug'])).toMatchObject({ values: { debug: true } });
  });
});

describe('parseCli: --var', () => {
  it('is repeatable, keeping every value in order', () => {
    const r = parseCli(['run', '4', '--var', 'vip=10.77.0.100', '--var=mtu=1450', '--var', 'note=a b=c', '--var', 'vip=10.77.0.101']);
    expect(r.kind).toBe('command');
    if (r.kind !== 'command') return;
    expect(r.values.var).toEqual(['vip=10.77.0.100', 'mtu=1450', 'note=a b=c', 'vip=10.77.0.101']);
    expect(parseVars(r.values.var as string[])).toEqual({ vip: '10.77.0.101', mtu: '1450', note: 'a b=c' });
  });

  it('is a list even when given once, and absent when not given', () => {
    expect(parseCli(['run', '4', '--var', 'a=1'])).toMatchObject({ values: { var: ['a=1'] } });
    const none = parseCli(['run', '4']);
    expect(none.kind === 'command' && none.values.var).toBeUndefined();
  });
});

describe('parseVars', () => {
  it('splits at the first "=" and keeps the rest of the value as it is', () => {
    expect(parseVars(['a=1', 'b=x=y', 'c=', 'd= spaced ', 'e=$(id); `id`'])).toEqual({ a: '1', b: 'x=y', c: '', d: ' spaced ', e: '$(id); `id`' });
  });

  it('returns nothing for no --var', () => {
    expect(parseVars(undefined)).toEqual({});
    expect(parseVars([])).toEqual({});
  });

  it.each(['novalue', '=x', '=', ''])('refuses %j: NAME=VALUE is required', (item) => {
    let err: unknown;
    try {
      parseVars(['ok=1', item]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).toJSON()).toMatchObject({ code: 'usage', message: `--var ${item}: write NAME=VALUE`, where: '--var' });
  });
});
