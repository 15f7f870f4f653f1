/** The `drillbook` command end to end, against real sshd hosts. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frontmatter, step, writeChapters } from '../fixtures/chapters.ts';
import { drillbook } from '../fixtures/cli.ts';
import { freePort, startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let inventory: string;
let fixtures: string;

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  inventory = fleet.writeInventory({ name: 'clitest' });
  fixtures = writeChapters({
    '01-fixture.mdx':
      frontmatter('vars:\n  port: { type: port, default: 8080 }\n') +
      step('id="hello" title="Say hello" on="all"', 'echo "hello from {{host}} port {{port}}"') +
      step('id="fails" title="Fails" on="ctl2"', 'echo "about to fail"; exit 7', 'Verify') +
      step('id="after" title="After the failure" on="ctl1"', 'echo unreachable-by-design') +
      step('id="slow" title="Slow" on="ctl1"', `echo started; sleep 3${process.pid % 100}3`) +
      step('id="kill-it" title="Break something" on="ctl3"', 'echo broken', 'Break'),
  });
});
afterAll(async () => {
  await fleet?.stopAll();
});

const withFixtures = () => ({ env: { DRILLBOOK_CHAPTERS_DIR: fixtures } });

describe('drillbook run', () => {
  it('runs a chapter of the book with host-prefixed output and a summary table', async () => {
    const r = await drillbook(['run', '1/nodes-answer', '1/os-release', '--inventory', inventory]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/▶ 01-cloud-computing-and-ha\/nodes-answer/);
    expect(r.stdout).toMatch(/^ctl1 │ ctl1 answers as .* at 127\.0\.0\.1$/m);
    expect(r.stdout).toMatch(/^ctl3 │ Debian GNU\/Linux 12 \(bookworm\)$/m);
    expect(r.stdout).toMatch(/STEP\s+HOST\s+VERDICT\s+EXIT\s+TRIES\s+TIME/);
    expect(r.stdout).toMatch(/2 steps passed, 0 failed on clitest/);
  });

  it('stops at the first failure and exits 1', async () => {
    const r = await drillbook(['run', '01-fixture/hello', '01-fixture/fails', '01-fixture/after', '--inventory', inventory], withFixtures());
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ctl2 │ hello from ctl2 port 8080$/m);
    expect(r.stdout).toMatch(/^ctl2 │ about to fail$/m);
    expect(r.stdout).toMatch(/✘ failed: exit code 7 \(expected 0\)/);
    expect(r.stdout).not.toMatch(/unreachable-by-design/);
    expect(r.stdout).toMatch(/1 step passed, 1 failed, 1 not run/);
  });

  it('--keep-going runs the rest after a failure', async () => {
    const r = await drillbook(['run', '01-fixture/fails', '01-fixture/after', '--inventory', inventory, '--keep-going'], withFixtures());
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/unreachable-by-design/);
  });

  it('--json prints one document with every result', async () => {
    const r = await drillbook(['run', '01-fixture/hello', '--inventory', inventory, '--json', '--var', 'port=9090'], withFixtures());
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.results[0].hosts.map((h: { output: string }) => h.output)).toEqual(['hello from ctl1 port 9090\n', 'hello from ctl2 port 9090\n', 'hello from ctl3 port 9090\n']);
  });

  it('--dry-run prints resolved scripts and connects to nothing', async () => {
    const port = await freePort(); // nothing listens there
    const dead = path.join(fleet.dir, 'dead.yaml');
    const text = `name: dead\nhosts:\n  ctl1: { address: 127.0.0.1, port: ${port} }\n  ctl2: { address: 127.0.0.1, port: ${port} }\n  ctl3: { address: 127.0.0.1, port: ${port} }\ngroups:\n  controllers: [ctl1, ctl2, ctl3]\n`;
    writeFileSync(dead, text);
    const r = await drillbook(['run', '01-fixture/hello', '--inventory', dead, '--dry-run', '--var', 'port=1234'], withFixtures());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dry run against dead/);
    expect(r.stdout).toMatch(/--- ctl1 ---\n {2}echo "hello from ctl1 port 1234"/);
    const json = JSON.parse((await drillbook(['run', '01-fixture/kill-it', '--inventory', dead, '--dry-run', '--json'], withFixtures())).stdout);
    expect(json.steps[0]).toMatchObject({ step: '01-fixture/kill-it', kind: 'break', needsConfirm: true, targets: [{ host: 'ctl3', script: 'echo broken' }] });
  });

  it('refuses a break step without a confirmation naming the target, runs it with one', async () => {
    const refused = await drillbook(['run', '01-fixture/kill-it', '--inventory', inventory], withFixtures());
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/error\[refused\] 01-fixture\/kill-it: 01-fixture\/kill-it is a break step and needs a confirmation naming the target "clitest"/);
    const wrong = await drillbook(['run', '01-fixture/kill-it', '--inventory', inventory, '--confirm', 'prod'], withFixtures());
    expect(wrong.code).toBe(2);
    const ok = await drillbook(['run', '01-fixture/kill-it', '--inventory', inventory, '--confirm', 'clitest'], withFixtures());
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ctl3 │ broken$/m);
  });

  it('Ctrl-C cancels: exit 130 and the remote process is gone', async () => {
    const marker = `sleep 3${process.pid % 100}3`;
    let sent = false;
    const r = await drillbook(['run', '01-fixture/slow', '--inventory', inventory], {
      ...withFixtures(),
      onStdout: (text, child) => {
        if (!sent && text.includes('ctl1 │ started')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/■ cancelled/);
    expect(() => execFileSync('pgrep', ['-f', marker])).toThrow();
  });

  it('bad input gets a clear error and exit 2', async () => {
    const badVar = await drillbook(['run', '01-fixture/hello', '--inventory', inventory, '--var', 'port=80;reboot'], withFixtures());
    expect(badVar.code).toBe(2);
    expect(badVar.stderr).toMatch(/error\[variable\] --var: variable "port" must be a TCP\/UDP port, 1-65535; "80;reboot" is not/);
    const unknownVar = await drillbook(['run', '01-fixture/hello', '--inventory', inventory, '--var', 'nope=1'], withFixtures());
    expect(unknownVar.stderr).toMatch(/no selected chapter declares a variable "nope"/);
    const noInv = await drillbook(['run', '1', '--inventory', '/nonexistent/inv.yaml']);
    expect(noInv.code).toBe(2);
    expect(noInv.stderr).toMatch(/error\[inventory\] \/nonexistent\/inv\.yaml: inventory file not found/);
    const noLab = await drillbook(['run', '1', '--lab', 'nosuchlab']);
    expect(noLab.stderr).toMatch(/lab "nosuchlab" is not up/);
    const usage = await drillbook(['run']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/error\[usage\] drillbook run: missing <chapter\|chapter\/step>\.\.\./);
  });

  it('--from-scratch first runs the deploy and verify steps of the chapters it builds on', async () => {
    const two = frontmatter().replace('chapter: 1', 'chapter: 2').replace('title: Fixture', 'title: Second').concat('').replace('lab: infra3\n', 'lab: infra3\nbuildsOn: [1]\n');
    const dir = writeChapters({
      '01-first.mdx': frontmatter() + step('id="setup" title="Set up" on="ctl1"', 'echo setup') + step('id="check" title="Check" on="ctl1"', 'echo check', 'Verify') + step('id="breakit" title="Break" on="ctl1"', 'echo broken', 'Break'),
      '02-second.mdx': two + step('id="own" title="Own step" on="ctl2"', 'echo own'),
    });
    const r = await drillbook(['run', '2', '--from-scratch', '--inventory', inventory, '--json'], { env: { DRILLBOOK_CHAPTERS_DIR: dir } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).results.map((x: { step: { globalId: string } }) => x.step.globalId)).toEqual(['01-first/setup', '01-first/check', '02-second/own']);
  });

  it('lab up --dry-run says what it would do and changes nothing', async () => {
    const r = await drillbook(['lab', 'up', '--dry-run', '--name', 'dryrun', '--subnet', '10.96.0.0/24', '--nodes', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dry run: lab up on "dryrun" would/);
    expect(r.stdout).toMatch(/create bridge dbk-dryrun with 10\.96\.0\.1\/24/);
    expect(r.stdout).toMatch(/boot ctl2 at 10\.96\.0\.12 \(controllers\)/);
    expect(r.stdout).not.toMatch(/ctl3/);
    expect(execFileSync('ip', ['link'], { encoding: 'utf8' })).not.toMatch(/dbk-dryrun/);
    const down = await drillbook(['lab', 'down', '--dry-run', '--name', 'dryrun']);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/there is no lab "dryrun"/);
  });

  it('a malformed chapter fails with its file and line', async () => {
    const broken = writeChapters({ '01-broken.mdx': frontmatter() + step('id="x" title="X" on="all" retries="lots"', 'true') });
    const r = await drillbook(['steps'], { env: { DRILLBOOK_CHAPTERS_DIR: broken } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[step-syntax\] .*01-broken\.mdx:8: bad retry value retries="lots" in step "x"/);
  });
});

describe('drillbook steps and --help', () => {
  it('lists the manifest as a table and as JSON', async () => {
    const table = await drillbook(['steps']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/1\. Cloud computing and high availability/);
    expect(table.stdout).toMatch(/15\. Kolla/);
    const json = JSON.parse((await drillbook(['steps', '--json'])).stdout);
    expect(json.chapters).toHaveLength(15);
    expect(json.chapters[0].steps.map((s: { id: string }) => s.id).slice(0, 2)).toEqual(['nodes-answer', 'os-release']);
    expect(json.chapters[0].drills.map((d: { id: string }) => d.id)).toContain('known-outage');
  });

  it('every command has --help', async () => {
    for (const cmd of ['run', 'steps', 'serve']) {
      const r = await drillbook([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: drillbook ${cmd}`));
    }
    expect((await drillbook(['--help'])).stdout).toMatch(/Commands:\n {2}serve/);
  });
});
