/**
 * The built-in local lab, for real: `drillbook lab up` builds (in CI: from
 * scratch) the base image and repository, boots three systemd-nspawn nodes,
 * and the runner works against them.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { labInventoryPath } from '../../server/lab/local.ts';
import { drillbook } from '../fixtures/cli.ts';

const LONG = 30 * 60_000;
let upOutput = '';

beforeAll(async () => {
  const r = await drillbook(['lab', 'up'], { timeoutMs: LONG });
  upOutput = r.stdout + r.stderr;
  if (r.code !== 0) throw new Error(`lab up failed:\n${upOutput}`);
  console.log(upOutput);
}, LONG);

// The lab stays up for the chapter tests; 99-teardown.test.ts takes it down.

describe('lab up', () => {
  it('shows phases with elapsed time and ends with every node answering SSH', () => {
    expect(upOutput).toMatch(/\[\s*[\d.]+ s\] base image: (cached|building)/);
    expect(upOutput).toMatch(/\[\s*[\d.]+ s\] nodes: booting ctl1, ctl2, ctl3/);
    for (const n of ['ctl1', 'ctl2', 'ctl3']) expect(upOutput).toMatch(new RegExp(`${n} 10\\.77\\.0\\.1\\d answers SSH`));
  });

  it('writes an inventory with pinned host keys, the controllers group and the VIPs', () => {
    const inv = readFileSync(labInventoryPath('local'), 'utf8');
    expect(inv).toMatch(/name: local\nprofile: lab/);
    expect(inv, inv).toMatch(/ctl1:\n\s+address: 10\.77\.0\.11\n\s+hostKey: ssh-ed25519 /);
    expect(inv).toMatch(/controllers:\n\s+- ctl1\n\s+- ctl2\n\s+- ctl3/);
    expect(inv).toMatch(/vip: 10\.77\.0\.100/);
  });

  it('reports status as JSON: three running nodes that answer SSH, bridge and guard route present', async () => {
    const r = await drillbook(['lab', 'status', '--json']);
    const st = JSON.parse(r.stdout);
    expect(st.bridge).toBe(true);
    expect(st.guard).toBe(true);
    expect(st.nodes.map((n: { name: string; state: string; ssh: boolean }) => `${n.name}:${n.state}:${n.ssh}`)).toEqual(['ctl1:running:true', 'ctl2:running:true', 'ctl3:running:true']);
  });

  it('a second up is a no-op that keeps the nodes running', async () => {
    const before = JSON.parse((await drillbook(['lab', 'status', '--json'])).stdout).nodes.map((n: { pid: number }) => n.pid);
    const r = await drillbook(['lab', 'up'], { timeoutMs: 300_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/base image: cached/);
    const after = JSON.parse((await drillbook(['lab', 'status', '--json'])).stdout).nodes.map((n: { pid: number }) => n.pid);
    expect(after).toEqual(before);
  });
});

describe('the runner on the lab', () => {
  it('fans a command out to the three nodes, each answering as itself with systemd as PID 1', async () => {
    const r = await drillbook(['run', '1/nodes-answer', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.inventory).toBe('local');
    expect(doc.results[0].hosts.map((h: { output: string }) => h.output)).toEqual([
      'ctl1 answers as ctl1 at 10.77.0.11\n',
      'ctl2 answers as ctl2 at 10.77.0.12\n',
      'ctl3 answers as ctl3 at 10.77.0.13\n',
    ]);
    const pid1 = await drillbook(['lab', 'ssh', 'ctl2', 'ps -o comm= -p 1; systemctl is-system-running --wait']);
    expect(pid1.stdout).toMatch(/^systemd\n(running|degraded)\n$/);
  });

  it('the provisioning ran on every node: names resolve, nonlocal bind is on', async () => {
    const r = await drillbook(['lab', 'ssh', 'ctl1', 'cat /etc/drillbook/provisioned; getent hosts ctl3; sysctl -n net.ipv4.ip_nonlocal_bind']);
    expect(r.stdout).toBe('provisioned=1 node=ctl1\n10.77.0.13      ctl3\n1\n');
  });

  it('installs a package from the local repository (no mirror is reachable from the nodes)', async () => {
    const r = await drillbook(['lab', 'ssh', 'ctl3', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >/dev/null 2>&1; jq --version; apt-cache policy jq | grep -m1 -o "file:/srv/drillbook-repo"; ip route show default | wc -l']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^jq-1\.6\nfile:\/srv\/drillbook-repo\n0\n$/);
  });

  it('detects a crashed node as unreachable, and its restart as back', async () => {
    expect((await drillbook(['lab', 'crash', 'ctl2'])).code).toBe(0);
    const down = await drillbook(['run', '1/os-release', '--json']);
    expect(down.code).toBe(1);
    const hosts = JSON.parse(down.stdout).results[0].hosts;
    expect(hosts.map((h: { verdict: string }) => h.verdict)).toEqual(['passed', 'unreachable', 'passed']);
    expect(hosts[1].message).toMatch(/cannot reach 10\.77\.0\.12:22|no SSH answer from 10\.77\.0\.12/);
    expect((await drillbook(['lab', 'start', 'ctl2'])).code).toBe(0);
    const back = await drillbook(['run', '1/os-release', '--json']);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout).results[0].verdict).toBe('passed');
  });
});

describe('the lab page', () => {
  it('shows the nodes, and crashes and starts one through the server', async () => {
    const { startServer } = await import('../../server/main.ts');
    const { launchBrowser, ARTIFACTS } = await import('../fixtures/browser.ts');
    const server = await startServer({ port: 0 });
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(server.url);
      await page.goto(new URL('/lab/', server.url).href);
      const lab = page.locator('drillbook-lab').first();
      await expect.poll(() => lab.locator('.db-lab-summary').textContent(), { timeout: 15_000 }).toMatch(/local \(infra3, 10\.77\.0\.0\/24\): 3 of 3 nodes running/);
      expect(await lab.locator('.db-lab-node').count()).toBe(3);
      await lab.locator('button[data-lab-action="crash"][data-node="ctl3"]').click();
      await page.locator('dialog.db-dialog input').fill('local');
      await page.locator('dialog.db-dialog button[value="run"]').click();
      await expect.poll(() => lab.locator('.db-lab-log').textContent(), { timeout: 30_000 }).toMatch(/ctl3 crashed[\s\S]*✔ done/);
      await expect.poll(() => lab.locator('.db-lab-summary').textContent(), { timeout: 15_000 }).toMatch(/2 of 3 nodes running/);
      await lab.locator('button[data-lab-action="start"][data-node="ctl3"]').click();
      await expect.poll(() => lab.locator('.db-lab-log').textContent(), { timeout: 60_000 }).toMatch(/ctl3 is back \(start\)[\s\S]*✔ done/);
      await expect.poll(() => lab.locator('.db-lab-summary').textContent(), { timeout: 15_000 }).toMatch(/3 of 3 nodes running/);
      await page.screenshot({ path: `${ARTIFACTS}/lab-page.png`, fullPage: true });
      // The chapter page's compact panel shows the same lab.
      await page.goto(new URL('/chapters/01-cloud-computing-and-ha/', server.url).href);
      await expect.poll(() => page.locator('drillbook-lab .db-lab-summary').textContent(), { timeout: 15_000 }).toMatch(/3 of 3 nodes running/);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 180_000);
});

