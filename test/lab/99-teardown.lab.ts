/**
 * Last of the lab tests: the network guards, then `lab down` removes what
 * `lab up` created and leaves the guard route.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { labInventoryPath } from '../../server/lab/local.ts';
import { drillbook } from '../fixtures/cli.ts';

function route(address: string): string {
  try {
    return execFileSync('ip', ['route', 'get', address], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e);
  }
}

afterAll(async () => {
  // Whatever happened above, leave nothing running.
  await drillbook(['lab', 'down'], { timeoutMs: 180_000 });
}, 200_000);

describe('safety of the lab network', () => {
  const SUBNET = '10.78.0.0/24';

  it('a torn-down lab leaves its subnet unreachable, and lab commands refuse to run', async () => {
    const clash = await drillbook(['lab', 'up', '--name', 'guardtest', '--nodes', '1']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/subnet 10\.77\.0\.0\/24 is in use by lab "local"/);
    const up = await drillbook(['lab', 'up', '--name', 'guardtest', '--nodes', '1', '--subnet', SUBNET], { timeoutMs: 240_000 });
    expect(up.code, up.stderr).toBe(0);
    expect(route('10.78.0.11')).toMatch(/dev dbk-guardtest/);
    const down = await drillbook(['lab', 'down', '--name', 'guardtest'], { timeoutMs: 120_000 });
    expect(down.code).toBe(0);
    expect(down.stderr).toMatch(/guard route for 10\.78\.0\.0\/24 stays/);
    // No bridge: the guard route answers, the default route is never used.
    expect(route('10.78.0.11')).toMatch(/No route to host|unreachable/);
    expect(execFileSync('ip', ['route', 'show', 'type', 'unreachable'], { encoding: 'utf8' })).toMatch(/unreachable 10\.78\.0\.0\/24 metric 4294967295/);
    const ssh = await drillbook(['lab', 'ssh', 'ctl1', 'true', '--name', 'guardtest']);
    expect(ssh.code).toBe(2);
    expect(ssh.stderr).toMatch(/there is no lab "guardtest"/);
  }, 300_000);

  it('refuses node actions while the bridge is missing', async () => {
    // Last test of the file: `lab down` in afterAll cleans up without the bridge.
    execFileSync('ip', ['link', 'del', 'dbk-local']);
    const r = await drillbook(['lab', 'ssh', 'ctl1', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[lab\] lab: lab "local" has no bridge dbk-local/);
    expect(route('10.77.0.11')).toMatch(/No route to host|unreachable/);
    const start = await drillbook(['lab', 'start', 'ctl1']);
    expect(start.stderr).toMatch(/has no bridge/);
  });
});

describe('lab down', () => {
  it('removes nodes, mounts, cgroups and the inventory, and keeps the guard route', async () => {
    const r = await drillbook(['lab', 'down'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(labInventoryPath('local'))).toBe(false);
    expect(execFileSync('mount', { encoding: 'utf8' })).not.toMatch(/drillbook-local-ctl/);
    expect(execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-name', 'drillbook-local-*'], { encoding: 'utf8' })).toBe('');
    let nspawns = '';
    try {
      nspawns = execFileSync('pgrep', ['-af', 'systemd-nspawn --boot --directory=.*/labs/local/'], { encoding: 'utf8' });
    } catch {
      /* pgrep exits 1 when nothing matches */
    }
    expect(nspawns).toBe('');
    expect(route('10.77.0.11')).toMatch(/No route to host|unreachable/);
  }, 200_000);
});
