/**
 * The runner against three real OpenSSH servers: every result kind is
 * provoked for real (stopped sshd, wrong key, new host key, sleep).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInventory, type Inventory } from '../../server/inventory.ts';
import { executeStep, type RunEvent } from '../../server/runner/execute.ts';
import { planStep } from '../../server/runner/plan.ts';
import { KnownHosts } from '../../server/transports/known-hosts.ts';
import { MAX_CHANNELS, SshPool } from '../../server/transports/ssh-pool.ts';
import { chapterFrom, step } from '../fixtures/chapters.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let inv: Inventory;
let pool: SshPool;
const tag = `dbt${process.pid}`;

function poolFor(i: Inventory, knownHosts = path.join(fleet.dir, 'known_hosts'), policy: 'record-first-use' | 'strict' = 'record-first-use') {
  return new SshPool({ hosts: i.hosts, knownHosts: new KnownHosts(knownHosts, policy), connectTimeoutMs: 5000, killGraceMs: 1000 });
}

/** Run one step written as MDX attributes + script. */
async function run(attrs: string, script: string, opts: { component?: string; vars?: string; params?: Record<string, string>; signal?: AbortSignal; inventory?: Inventory; transport?: SshPool; events?: RunEvent[] } = {}) {
  const ch = chapterFrom(step(`id="s" title="S" ${attrs}`, script, opts.component), { vars: opts.vars });
  const plan = planStep(ch.steps[0], ch, opts.inventory ?? inv, opts.params ?? {});
  return executeStep(plan, opts.transport ?? pool, { signal: opts.signal, onEvent: (e) => opts.events?.push(e) });
}

function remoteProcesses(pattern: string): string {
  try {
    return execFileSync('pgrep', ['-af', pattern], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  inv = loadInventory(fleet.writeInventory());
  pool = poolFor(inv);
});
afterAll(async () => {
  await pool?.close();
  await fleet?.stopAll();
});

describe('fan-out and streaming', () => {
  it('runs on every target in parallel and reports per host', async () => {
    const r = await run('on="all"', 'echo "start $(date +%s%N)"; sleep 1; echo "end $(date +%s%N) on {{host}}"');
    expect(r.verdict).toBe('passed');
    expect(r.hosts.map((h) => h.host)).toEqual(['ctl1', 'ctl2', 'ctl3']);
    const spans = r.hosts.map((h) => {
      const [, start] = /start (\d+)/.exec(h.output)!;
      const [, end] = /end (\d+)/.exec(h.output)!;
      return [Number(start), Number(end)];
    });
    // Every host started before any host finished: they ran at the same time.
    expect(Math.max(...spans.map((s) => s[0]))).toBeLessThan(Math.min(...spans.map((s) => s[1])));
    expect(r.hosts[1].output).toMatch(/on ctl2/);
  });

  it('streams output as it is printed, per host and per stream', async () => {
    const events: RunEvent[] = [];
    const r = await run('on="ctl1"', 'echo first; echo oops >&2; sleep 1; echo second', { events });
    expect(r.verdict).toBe('passed');
    const outputs = events.filter((e): e is Extract<RunEvent, { type: 'output' }> => e.type === 'output');
    const first = outputs.findIndex((e) => e.text.includes('first'));
    const second = outputs.findIndex((e) => e.text.includes('second'));
    expect(first).toBeGreaterThanOrEqual(0);
    expect(second).toBeGreaterThan(first);
    expect(outputs.find((e) => e.text.includes('oops'))?.stream).toBe('stderr');
    expect(events[0].type).toBe('start');
    expect(events.at(-1)!.type).toBe('done');
  });

  it('reuses one pooled connection per host across steps', async () => {
    const logBefore = readFileSync(path.join(fleet.dir, 'sshd_ctl2.log'), 'utf8').split('Accepted publickey').length;
    for (let i = 0; i < 3; i++) expect((await run('on="ctl2"', 'true')).verdict).toBe('passed');
    const logAfter = readFileSync(path.join(fleet.dir, 'sshd_ctl2.log'), 'utf8').split('Accepted publickey').length;
    expect(logAfter - logBefore).toBe(0);
  });

  it(`never opens more than ${MAX_CHANNELS} channels on one connection`, async () => {
    const p = poolFor(inv);
    const ch = chapterFrom(step('id="s" title="S" on="ctl3"', 'echo "$(date +%s%N)"; sleep 0.5; echo "$(date +%s%N)"'));
    const plan = planStep(ch.steps[0], ch, inv, {});
    const results = await Promise.all([...Array(12)].map(() => executeStep(plan, p)));
    await p.close();
    expect(results.filter((r) => r.verdict !== 'passed').map((r) => r.hosts[0].message)).toEqual([]);
    const spans = results.map((r) => r.hosts[0].output.trim().split('\n').map(Number));
    const maxOverlap = Math.max(...spans.map(([s]) => spans.filter(([a, b]) => a <= s && s < b).length));
    expect(maxOverlap).toBeLessThanOrEqual(MAX_CHANNELS);
    expect(maxOverlap).toBeGreaterThan(1);
    expect(p.peakChannels.get('ctl3')).toBe(MAX_CHANNELS);
  });

  it('tunnels through a jump host', async () => {
    // ctl2 is reached only through ctl1, as written in the inventory file.
    const file = fleet.writeInventory({ name: 'jumped' });
    writeFileSync(file, readFileSync(file, 'utf8').replace(/(  ctl2: \{ address: 127\.0\.0\.1, port: \d+)/, '$1, jump: ctl1'));
    const jumped = loadInventory(file);
    expect(jumped.hosts.ctl2.jump).toBe('ctl1');
    const p = poolFor(jumped);
    const r = await run('on="ctl2"', 'echo "via $SSH_CONNECTION"', { inventory: jumped, transport: p });
    await p.close();
    expect(r.verdict).toBe('passed');
    expect(r.hosts[0].output).toMatch(/^via 127\.0\.0\.1 /);
  });
});

describe('verdicts', () => {
  it('a failed command reports its exit code', async () => {
    const r = await run('on="ctl1"', 'echo before; exit 3');
    expect(r.verdict).toBe('failed');
    expect(r.hosts[0]).toMatchObject({ verdict: 'failed', exitCode: 3, message: 'exit code 3 (expected 0)' });
  });

  it('runs scripts with set -euo pipefail', async () => {
    const errexit = await run('on="ctl1"', 'false\necho after');
    expect(errexit.hosts[0].output).not.toMatch(/after/);
    expect(errexit.verdict).toBe('failed');
    expect((await run('on="ctl1"', 'echo "$no_such_variable"')).verdict).toBe('failed');
    expect((await run('on="ctl1"', 'false | true')).verdict).toBe('failed');
  });

  it('an unmet stdout expectation is its own verdict', async () => {
    const r = await run('on="ctl1" expect="/Quorate: +Yes/"', 'echo "Quorate: No"');
    expect(r.hosts[0]).toMatchObject({ verdict: 'expectation-failed', exitCode: 0 });
    expect(r.hosts[0].message).toMatch(/stdout does not match \/Quorate: \+Yes\//);
  });

  it('accepts the exit codes it is told to expect', async () => {
    expect((await run('on="ctl1" expect="exit=1"', 'exit 1')).verdict).toBe('passed');
    expect((await run('on="ctl1" expect="exit=1"', 'exit 0')).verdict).toBe('failed');
  });

  it('retries until the check holds', async () => {
    const counter = `/tmp/${tag}-counter-${Date.now()}`;
    const r = await run('on="ctl1" retries={5} delay="100ms"', `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo "attempt $n"; [ "$n" -ge 3 ]`);
    rmSync(counter, { force: true });
    expect(r.verdict).toBe('passed');
    expect(r.hosts[0].attempts).toBe(3);
  });

  it('reports retries exhausted with the last failure', async () => {
    const r = await run('on="ctl1,ctl2" retries={2} delay="100ms"', 'echo nope; exit 4');
    expect(r.verdict).toBe('retries-exhausted');
    expect(r.hosts.map((h) => h.attempts)).toEqual([3, 3]);
    expect(r.hosts[0].message).toBe('still failing after 3 attempts: exit code 4 (expected 0)');
  });

  it('times out and stops the remote process', async () => {
    const marker = `sleep 3${process.pid % 100}1`;
    const r = await run('on="ctl1" timeout="1s"', `echo started; ${marker}`);
    expect(r.verdict).toBe('timeout');
    expect(r.hosts[0].message).toMatch(/timed out after 1\.00 s; the remote process was stopped/);
    expect(r.hosts[0].output).toMatch(/started/);
    expect(remoteProcesses(marker)).toBe('');
  });

  it('cancels: the remote process group really stops, even one that ignores SIGTERM', async () => {
    const marker = `sleep 3${process.pid % 100}2`;
    const ctl = new AbortController();
    const events: RunEvent[] = [];
    const p = run('on="ctl1,ctl2"', `trap '' TERM; echo started; ${marker} & wait`, {
      signal: ctl.signal,
      events: new Proxy(events, {
        get(target, prop) {
          if (prop === 'push') return (e: RunEvent) => {
            target.push(e);
            if (e.type === 'output' && e.text.includes('started') && target.filter((x) => x.type === 'output').length === 2) ctl.abort();
            return target.length;
          };
          return Reflect.get(target, prop);
        },
      }),
    });
    const r = await p;
    expect(r.verdict).toBe('cancelled');
    expect(r.hosts.every((h) => h.verdict === 'cancelled' && h.remoteStopped)).toBe(true);
    expect(remoteProcesses(marker)).toBe('');
  });

  it('an unreachable host is reported as such; the others still run', async () => {
    // A new pool: an established connection survives its sshd listener stopping.
    const p = poolFor(inv);
    await fleet.hosts[2].stop();
    try {
      const r = await run('on="all"', 'echo ok', { transport: p });
      expect(r.hosts.map((h) => h.verdict)).toEqual(['passed', 'passed', 'unreachable']);
      expect(r.hosts[2].message).toMatch(/cannot reach 127\.0\.0\.1:\d+: connection refused/);
      expect(r.verdict).toBe('unreachable');
    } finally {
      await fleet.hosts[2].start();
    }
    // The next step on the same pool connects by itself once the host is back.
    expect((await run('on="ctl3"', 'echo back', { transport: p })).verdict).toBe('passed');
    await p.close();
  });

  it('a refused login is auth-failed', async () => {
    const wrong = loadInventory(fleet.writeInventory({ name: 'wrongkey' }));
    for (const h of Object.values(wrong.hosts)) h.keyFile = fleet.wrongKey;
    const p = poolFor(wrong);
    const r = await run('on="ctl1"', 'true', { inventory: wrong, transport: p });
    await p.close();
    expect(r.verdict).toBe('auth-failed');
    expect(r.hosts[0].message).toMatch(/drillbook-test@127\.0\.0\.1:\d+ refused the login/);
  });

  it('a changed host key is refused, and stays refused until the old key is forgotten', async () => {
    const known = path.join(fleet.dir, `known_hosts_rotate`);
    const p1 = poolFor(inv, known);
    expect((await run('on="ctl2"', 'true', { transport: p1 })).verdict).toBe('passed');
    await p1.close();
    await fleet.hosts[1].rotateHostKey();
    const p2 = poolFor(inv, known);
    const r = await run('on="ctl2"', 'true', { transport: p2 });
    await p2.close();
    expect(r.verdict).toBe('host-key-mismatch');
    expect(r.hosts[0].message).toMatch(/host key of 127\.0\.0\.1:\d+ changed/);
  });

  it('a strict (production) inventory refuses unknown host keys and accepts pinned ones', async () => {
    const known = path.join(fleet.dir, `known_hosts_strict`);
    const p = poolFor(inv, known, 'strict');
    const r = await run('on="ctl1"', 'true', { transport: p });
    await p.close();
    expect(r.verdict).toBe('host-key-unknown');
    const pinned = loadInventory(fleet.writeInventory({ name: 'pinned', hostKeys: true }));
    const p2 = poolFor(pinned, known, 'strict');
    expect((await run('on="ctl1"', 'true', { inventory: pinned, transport: p2 })).verdict).toBe('passed');
    await p2.close();
  });

  it('a dropped connection mid-step is reported as disconnected, and the next step reconnects', async () => {
    const r = await run('on="ctl3"', 'echo hi; kill -9 $PPID; sleep 5');
    expect(r.verdict).toBe('disconnected');
    expect(r.hosts[0].message).toMatch(/dropped|closed/);
    expect((await run('on="ctl3"', 'echo again')).verdict).toBe('passed');
  });
});

describe('where filters, variables and secrets', () => {
  it('runs only where the filter holds', async () => {
    const r = await run('on="all" where="test {{host}} = ctl2"', 'echo "selected {{host}}"');
    expect(r.verdict).toBe('passed');
    expect(r.hosts.map((h) => h.verdict)).toEqual(['skipped', 'passed', 'skipped']);
    expect(r.hosts[1].output).toBe('selected ctl2\n');
  });

  it('fails when the filter selects no host, and retries it', async () => {
    const r = await run('on="all" where="false" retries={1} delay="100ms"', 'true');
    expect(r.verdict).toBe('retries-exhausted');
    expect(r.message).toBe('no host matched the where filter in 2 attempts');
  });

  it('exports typed values and masks secrets in every output', async () => {
    const r = await run('on="ctl1"', 'echo "vip={{vip}} pw=$db_pass"; echo "$db_pass" >&2', {
      vars: '  vip: { type: ipv4, default: 10.77.0.100 }\n  db_pass: { type: secret }',
      params: { db_pass: 'hunter2-$(id)' },
    });
    expect(r.verdict).toBe('passed');
    expect(r.hosts[0].output).toBe('vip=10.77.0.100 pw=••••••\n••••••\n');
    expect(JSON.stringify(r)).not.toContain('hunter2');
  });
});
