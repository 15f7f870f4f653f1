import { describe, expect, it } from 'vitest';
import { loadManifest, selectSteps } from '../../src/runbook/manifest.ts';
import { parseDuration, parseExpect } from '../../src/runbook/extract.ts';
import { chapterFrom, errorsFrom, frontmatter, step } from '../fixtures/chapters.ts';

describe('the extractor', () => {
  it('reads a step with every attribute', () => {
    const ch = chapterFrom(
      step('id="vip-present" title="VIP is up" on="controllers" where="ip -4 -o addr | grep -qw {{vip}}" expect="exit=0,1 /inet/" retries={10} delay="500ms" timeout="2m" confirm', 'ip -4 -o addr show | grep -w {{vip}}', 'Verify'),
      { vars: '  vip: { type: ipv4, default: 10.77.0.100 }' },
    );
    expect(ch.steps).toHaveLength(1);
    const s = ch.steps[0];
    expect(s).toMatchObject({
      id: 'vip-present',
      globalId: '01-fixture/vip-present',
      kind: 'verify',
      on: 'controllers',
      where: 'ip -4 -o addr | grep -qw {{vip}}',
      expect: { exit: [0, 1], stdout: { source: 'inet', flags: 'm' } },
      retries: 10,
      delayMs: 500,
      timeoutMs: 120_000,
      confirm: true,
      vars: ['vip'],
      line: 10,
    });
    expect(s.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('maps the four components to the four kinds', () => {
    const ch = chapterFrom(
      step('id="a" title="A" on="all"', 'true', 'Step') + step('id="b" title="B" on="all"', 'true', 'Verify') + step('id="c" title="C" on="ctl1"', 'true', 'Break') + step('id="d" title="D" on="ctl1,ctl2"', 'true', 'Recover'),
    );
    expect(ch.steps.map((s) => s.kind)).toEqual(['deploy', 'verify', 'break', 'recover']);
  });

  it('changes the hash when the script changes, not when prose moves it', () => {
    const a = chapterFrom(step('id="a" title="A" on="all"', 'echo one')).steps[0];
    const b = chapterFrom('Some new prose.\n\n' + step('id="a" title="A" on="all"', 'echo one')).steps[0];
    const c = chapterFrom(step('id="a" title="A" on="all"', 'echo two')).steps[0];
    expect(b.hash).toBe(a.hash);
    expect(b.line).not.toBe(a.line);
    expect(c.hash).not.toBe(a.hash);
  });

  describe('malformed steps fail with file:line and a plain message', () => {
    it.each([
      ['duplicate id', step('id="a" title="A" on="all"', 'true') + step('id="a" title="B" on="all"', 'true'), /fixture\.mdx:14: duplicate step id "a" \(first used on line 8\)/],
      ['missing code block', '<Step id="a" title="A" on="all">\nJust prose.\n</Step>\n', /fixture\.mdx:8: step "a" has no code block/],
      ['unknown attribute', step('id="a" title="A" on="all" retry={3}', 'true'), /fixture\.mdx:8: unknown attribute "retry" on <Step>/],
      ['unknown host group', step('id="a" title="A" on="controllers,dbservers"', 'true'), /fixture\.mdx:8: unknown host or group "dbservers"/],
      ['local mixed with hosts', step('id="a" title="A" on="local,ctl1"', 'true'), /fixture\.mdx:8: on="local,ctl1" of step "a" mixes "local" \(this machine\) with lab hosts/],
      ['where on local', step('id="a" title="A" on="local" where="true"', 'true'), /fixture\.mdx:8: step "a" runs on="local": where= has no meaning there/],
      ['bad retry value', step('id="a" title="A" on="all" retries="many"', 'true'), /fixture\.mdx:8: bad retry value retries="many"/],
      ['negative retry value', step('id="a" title="A" on="all" retries={-1}', 'true'), /bad retry value retries=-1/],
      ['bad duration', step('id="a" title="A" on="all" retries={2} delay="soon"', 'true'), /bad delay value "soon"/],
      ['bad expect', step('id="a" title="A" on="all" expect="Online"', 'true'), /cannot read expect="Online"/],
      ['bad regex', step('id="a" title="A" on="all" expect="/(/"', 'true'), /bad stdout pattern/],
      ['no id', '<Step title="A" on="all">\n```bash\ntrue\n```\n</Step>\n', /fixture\.mdx:8: <Step> has no id/],
      ['no on', step('id="a" title="A"', 'true'), /step "a" has no on=/],
      ['two code blocks', '<Step id="a" title="A" on="all">\n```bash\ntrue\n```\n```bash\nfalse\n```\n</Step>\n', /has 2 code blocks/],
      ['not bash', '<Step id="a" title="A" on="all">\n```python\nprint(1)\n```\n</Step>\n', /code block is "python"; steps run bash/],
      ['undeclared variable', step('id="a" title="A" on="all"', 'echo {{vip}}'), /variable "vip" used in step "a" is not declared/],
      ['malformed placeholder', step('id="a" title="A" on="all"', 'echo {{ Vip }}'), /malformed placeholder \{\{ Vip \}\}/],
      ['non-literal attribute', step('id="a" title="A" on="all" retries={n}', 'true'), /must be a literal/],
      ['spread attribute', '<Step id="a" title="A" on="all" {...x}>\n```bash\ntrue\n```\n</Step>\n', /cannot take a spread/],
    ])('%s', (_name, body, pattern) => {
      const errors = errorsFrom(body);
      expect(errors.join('\n')).toMatch(pattern);
      expect(errors.every((e) => /^error\[step-syntax\] fixture\.mdx:\d+: /.test(e))).toBe(true);
    });

    it('a secret cannot be written into the script text', () => {
      const errors = errorsFrom(step('id="a" title="A" on="all"', 'mysql -p{{db_pass}}'), frontmatter('vars:\n  db_pass: { type: secret }\n'));
      expect(errors.join('\n')).toMatch(/variable "db_pass" is secret; it cannot be written as \{\{db_pass\}\}[\s\S]*use "\$db_pass"/);
    });

    it('reports every error in one pass', () => {
      const errors = errorsFrom(step('id="a" title="A" on="nope"', 'true') + step('id="b" title="B" on="all" retries="x"', 'true'));
      expect(errors).toHaveLength(2);
    });

    it('checks the frontmatter with line numbers', () => {
      const fm = '---\nchapter: 3\ntitle: X\npart: architecture\nsummary: s\nlab: infra3\ncolour: blue\n---\n';
      const errors = errorsFrom('', fm);
      expect(errors.join('\n')).toMatch(/fixture\.mdx:4: frontmatter part: chapter 3 belongs to part "principles"/);
      expect(errors.join('\n')).toMatch(/fixture\.mdx:\d: frontmatter : Unrecognized key\(s\) in object: 'colour'|Unrecognized key/);
    });

    it('needs a lab for runnable steps', () => {
      const fm = frontmatter().replace('lab: infra3\n', 'lab: none\n');
      expect(errorsFrom(step('id="a" title="A" on="all"', 'true'), fm).join('\n')).toMatch(/frontmatter says lab: none/);
    });
  });

  it('parses durations and expectations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('5')).toBeUndefined();
    expect(parseExpect('exit=3')).toEqual({ exit: [3] });
    expect(parseExpect('/a b/i')).toEqual({ exit: [0], stdout: { source: 'a b', flags: 'im' } });
    expect(parseExpect('exit=256')).toMatch(/bad exit codes/);
  });
});

describe('the book manifest', () => {
  const m = loadManifest();
  it('has all 15 chapters in the book order with their parts', () => {
    expect(m.chapters.map((c) => c.frontmatter.chapter)).toEqual([...Array(15)].map((_, i) => i + 1));
    expect(m.chapters.map((c) => c.frontmatter.title)).toEqual([
      'Cloud computing and high availability',
      'OpenStack HA architecture',
      'Pacemaker',
      'HAProxy and Keepalived',
      'RabbitMQ',
      'Memcached and Redis',
      'MariaDB Galera and MongoDB',
      'Nova',
      'Neutron',
      'Cinder and Ceph',
      'HA deployment of the infrastructure',
      'HA deployment of the core services',
      'Operating the Pacemaker cluster, Neutron and instance HA',
      'Ceph operations',
      'Kolla',
    ]);
    const parts = Object.fromEntries(m.chapters.map((c) => [c.frontmatter.chapter, c.frontmatter.part]));
    expect([parts[1], parts[2], parts[3], parts[10], parts[11], parts[12], parts[13], parts[14], parts[15]]).toEqual([
      'architecture', 'architecture', 'principles', 'principles', 'deployment', 'deployment', 'operations', 'operations', 'extension',
    ]);
  });

  it('selects chapters and steps by number, slug or global id', () => {
    expect(selectSteps(m, ['1']).map((s) => s.id)).toContain('nodes-answer');
    expect(selectSteps(m, ['ch01'])).toEqual(selectSteps(m, ['01-cloud-computing-and-ha']));
    expect(selectSteps(m, ['1/os-release']).map((s) => s.globalId)).toEqual(['01-cloud-computing-and-ha/os-release']);
    expect(() => selectSteps(m, ['1/nope'])).toThrow(/has no step "nope"/);
    expect(() => selectSteps(m, ['99'])).toThrow(/no chapter matches "99"/);
  });
});
