import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { exportLines, shellQuote } from '../../src/runbook/quote.ts';
import { checkValue, createMasker, fillTemplate, MASK, maskText, resolveVars } from '../../src/runbook/vars.ts';

const HOSTILE = [
  "it's",
  '$(touch /tmp/drillbook-pwned)',
  '`id`',
  'a; rm -rf /',
  'line1\nline2',
  '"double" and \\backslash\\',
  "'; echo injected; '",
  '$HOME ${PATH} $((1+1))',
  '*?[a-z]{1,2}~',
  '😀 unicode ünïcödé',
  '',
  '-n',
];

describe('shell quoting', () => {
  it.each(HOSTILE)('round-trips %j through real bash unchanged', (value) => {
    const out = execFileSync('bash', ['--noprofile', '--norc', '-c', `printf '%s' ${shellQuote(value)}`], { encoding: 'utf8' });
    expect(out).toBe(value);
  });

  it('exports values as environment variables that bash reads back exactly', () => {
    const env = Object.fromEntries(HOSTILE.map((v, i) => [`v${i}`, v]));
    const script = `${exportLines(env)}\n${HOSTILE.map((_, i) => `printf '%s\\0' "$v${i}"`).join('\n')}`;
    const out = execFileSync('bash', ['--noprofile', '--norc', '-c', script], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(HOSTILE);
  });

  it('refuses NUL bytes and bad variable names', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
    expect(() => exportLines({ 'a-b': 'x' })).toThrow(/not an environment variable name/);
  });
});

describe('typed values', () => {
  const ok: [string, string][] = [
    ['ipv4', '10.77.0.100'],
    ['cidr', '10.77.0.0/24'],
    ['hostname', 'ctl1.lab.example'],
    ['port', '5672'],
    ['int', '-3'],
    ['name', 'rabbit@ctl1'.replace('@', '_')],
    ['path', '/etc/haproxy/haproxy.cfg'],
    ['text', 'anything at all; $(even this)'],
    ['secret', 'S3cr3t!'],
  ];
  it.each(ok)('%s accepts %s', (type, value) => {
    expect(checkValue('x', { type: type as never }, value, 'test')).toBe(value);
  });

  const bad: [string, string][] = [
    ['ipv4', '10.77.0.256'],
    ['ipv4', '10.77.0.1; reboot'],
    ['cidr', '10.0.0.0/33'],
    ['hostname', 'ctl1 && id'],
    ['hostname', '-oProxyCommand=id'],
    ['port', '0'],
    ['port', '65536'],
    ['int', '1e3'],
    ['name', '-rf'],
    ['name', 'a b'],
    ['path', '/tmp/$(id)'],
    ['path', '-x'],
    ['secret', ''],
  ];
  it.each(bad)('%s refuses %j', (type, value) => {
    expect(() => checkValue('x', { type: type as never }, value, '--var')).toThrow(/variable "x" must be/);
  });

  it('hides a refused secret in the message', () => {
    expect(() => checkValue('pw', { type: 'secret' }, '', '--var')).toThrow(/\(hidden\)/);
  });
});

describe('resolving and filling', () => {
  const decls = { vip: { type: 'ipv4' as const, default: '10.77.0.100' }, pw: { type: 'secret' as const }, note: { type: 'text' as const } };

  it('takes values from the first layer that has them, then defaults', () => {
    const r = resolveVars(decls, [{ source: '--var', values: { pw: 'hunter2' } }, { source: 'inventory', values: { vip: '10.77.0.200' } }], ['vip'], 'here');
    expect(r.values).toEqual({ vip: '10.77.0.200', pw: 'hunter2' });
    expect(r.secrets).toEqual(['hunter2']);
  });

  it('names every variable that has no value', () => {
    expect(() => resolveVars(decls, [], ['vip', 'note'], 'f.mdx:3')).toThrow(/no value for "note"/);
  });

  it('fills only inline types', () => {
    expect(fillTemplate('ping -c1 {{vip}}', decls, { vip: '10.77.0.1' }, 'x')).toBe('ping -c1 10.77.0.1');
    expect(() => fillTemplate('echo {{note}}', decls, { note: 'hi' }, 'x')).toThrow(/cannot be written as \{\{note\}\}/);
    expect(() => fillTemplate('echo {{nope}}', decls, {}, 'x')).toThrow(/unknown variable "nope"/);
  });
});

describe('masking secrets in streams', () => {
  it('masks a secret split across chunks', () => {
    const m = createMasker(['hunter2']);
    const out = ['pass=hun', 'te', 'r2 done, again hunter', '2!'].map((c) => m.push(c)).join('') + m.flush();
    expect(out).toBe(`pass=${MASK} done, again ${MASK}!`);
  });

  it('passes text through untouched when there is nothing to mask, and flushes held-back text', () => {
    const m = createMasker(['secret']);
    expect(m.push('abc sec') + m.flush()).toBe('abc sec');
    expect(maskText('no secrets here', [])).toBe('no secrets here');
  });

  it('prefers the longest secret when one contains another', () => {
    expect(maskText('ab abc', ['ab', 'abc'])).toBe(`${MASK} ${MASK}`);
  });
});
