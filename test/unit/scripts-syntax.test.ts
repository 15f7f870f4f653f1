/**
 * Every script in the book parses as bash. Steps that need real VMs (and so
 * never run on the local lab) are also checked with shellcheck.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/runbook/manifest.ts';
import { BUILTIN_VARS } from '../../src/runbook/vars.ts';
import { probeLoopScript } from '../../server/runner/probe.ts';

const m = loadManifest();
const SAMPLE: Record<string, string> = { ipv4: '10.77.0.100', cidr: '10.77.0.0/24', hostname: 'ctl1', port: '8080', int: '1', name: 'sample', path: '/tmp/sample' };

function filled(chapter: string, script: string): string {
  const ch = m.chapters.find((c) => c.slug === chapter)!;
  const decls = { ...BUILTIN_VARS, ...ch.frontmatter.vars };
  return script.replace(/\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g, (_w, n: string) => String(decls[n]?.default ?? SAMPLE[decls[n]?.type ?? 'name']));
}

const scripts = m.chapters.flatMap((c) => [
  ...c.steps.map((s) => ({ name: s.globalId, script: filled(c.slug, s.script), vm: s.needs === 'vm' })),
  ...c.steps.filter((s) => s.where).map((s) => ({ name: `${s.globalId} (where)`, script: filled(c.slug, s.where!), vm: false })),
  ...c.drills.map((d) => ({ name: `${d.globalId} (probe loop)`, script: probeLoopScript(filled(c.slug, d.probe.script), d.probe.intervalMs, d.probe.timeoutMs), vm: false })),
  ...c.maps.map((mp) => ({ name: mp.globalId, script: filled(c.slug, mp.script), vm: false })),
]);

describe('scripts in the book', () => {
  it('there are scripts to check', () => {
    expect(scripts.length).toBeGreaterThan(10);
  });
  it.each(scripts)('$name parses as bash', ({ script }) => {
    expect(() => execFileSync('bash', ['-n'], { input: script, stdio: ['pipe', 'pipe', 'pipe'] })).not.toThrow();
  });
  const vmOnly = scripts.filter((s) => s.vm);
  it.runIf(vmOnly.length > 0).each(vmOnly)('$name (needs real VMs) passes shellcheck', ({ script }) => {
    expect(() => execFileSync('shellcheck', ['-s', 'bash', '-S', 'warning', '-'], { input: script, encoding: 'utf8' })).not.toThrow();
  });
  it('a script with a syntax error is caught (the check can fail)', () => {
    expect(() => execFileSync('bash', ['-n'], { input: 'if then fi', stdio: ['pipe', 'pipe', 'pipe'] })).toThrow();
  });
});
