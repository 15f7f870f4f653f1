/**
 * Run history, host locks and production safety, against real sshd hosts
 * and a real SQLite file: runs are recorded with masked secrets, a killed
 * run is recorded as interrupted without losing earlier ones, two runs
 * never interleave on a host, production refuses breaks unless allowed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { History } from '../../server/history/db.ts';
import { stateDir } from '../../server/state.ts';
import { frontmatter, step, writeChapters } from '../fixtures/chapters.ts';
import { BIN, drillbook } from '../fixtures/cli.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let inventory: string;
let production: string;
let env: { env: Record<string, string> };
const marker = `sleep 3${process.pid % 100}7`;

beforeAll(async () => {
  // A history of its own: other test files record runs in parallel.
  process.env.DRILLBOOK_STATE_DIR = mkdtempSync(path.join(os.tmpdir(), 'drillbook-history-test-'));
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  inventory = fleet.writeInventory({ name: 'histtest' });
  // The same hosts, marked production (strict, pinned host keys).
  production = fleet.writeInventory({ name: 'prodtest', hostKeys: true, file: path.join(fleet.dir, 'prod.yaml') });
  writeFileSync(production, readFileSync(production, 'utf8').replace('profile: lab', 'profile: production'));
  const chapters = writeChapters({
    '01-history.mdx':
      frontmatter('vars:\n  token: { type: secret }\n') +
      step('id="hello" title="Hello" on="all"', 'echo "hello from {{host}}"') +
      step('id="secret" title="Uses a secret" on="ctl1"', 'echo "token is $token"') +
      step('id="slow" title="Slow" on="ctl1"', `echo started; ${marker}`) +
      step('id="fault" title="A fault" on="ctl2"', 'echo "breaking {{host}}"', 'Break'),
  });
  env = { env: { DRILLBOOK_CHAPTERS_DIR: chapters } };
});
afterAll(async () => {
  await fleet?.stopAll();
});

describe('run history', () => {
  it('records every run with per-host results; secrets never reach the database', async () => {
    const r = await drillbook(['run', '01-history/hello', '01-history/secret', '--inventory', inventory, '--var', 'token=s3cr3t-value'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('token is ••••••');
    const list = JSON.parse((await drillbook(['history', '--json', '--limit', '5'], env)).stdout);
    expect(list.slice(0, 2).map((x: { item: string; verdict: string; status: string; source: string }) => `${x.item} ${x.status} ${x.verdict} ${x.source}`)).toEqual(['01-history/secret done passed cli', '01-history/hello done passed cli']);
    expect(list[0].params).toEqual({ token: '••••••' });
    const show = JSON.parse((await drillbook(['history', 'show', list[1].id.slice(0, 8), '--json'], env)).stdout);
    expect(show.hosts.map((h: { host: string; output: string }) => `${h.host}:${h.output}`)).toEqual(['ctl1:hello from ctl1\n', 'ctl2:hello from ctl2\n', 'ctl3:hello from ctl3\n']);
    const db = path.join(stateDir(), 'history.sqlite');
    const wal = (() => {
      try {
        return readFileSync(`${db}-wal`);
      } catch {
        return Buffer.alloc(0);
      }
    })();
    const bytes = Buffer.concat([readFileSync(db), wal]);
    expect(bytes.includes('s3cr3t-value')).toBe(false);
    expect(bytes.includes('hello from ctl2')).toBe(true);
  });

  it('exports a chapter as a Markdown change record', async () => {
    const md = (await drillbook(['history', 'export', '1', '--format', 'md'], env)).stdout;
    expect(md).toMatch(/^# Change record: chapter 1, Fixture/);
    expect(md).toMatch(/## Step `01-history\/hello`: Hello/);
    expect(md).toMatch(/\| Target \| histtest \(lab, fingerprint `[0-9a-f]{12}`\) \|/);
    expect(md).toMatch(/```text\nhello from ctl3\n```/);
  });

  it('a run whose process is killed is recorded as interrupted; earlier runs are intact', async () => {
    const before = JSON.parse((await drillbook(['history', '--json'], env)).stdout).length;
    const child = spawn(process.execPath, [BIN, 'run', '01-history/slow', '--inventory', inventory], { env: { ...process.env, ...env.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => String(d).includes('started') && resolve()));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const h = new History();
    try {
      expect(h.markInterrupted()).toBe(1);
      const [last] = h.list({ limit: 1 });
      expect(last).toMatchObject({ item: '01-history/slow', status: 'interrupted', verdict: 'interrupted' });
      expect(h.list({ limit: 100 }).length).toBe(before + 1);
      expect(h.db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      h.close();
      // The orphaned remote sleep belongs to this test: stop it.
      spawn('pkill', ['-f', marker]);
    }
  });
});

describe('one run at a time per host', () => {
  it('a second run on a busy host is told who holds it; other hosts are free', async () => {
    const first = spawn(process.execPath, [BIN, 'run', '01-history/slow', '--inventory', inventory], { env: { ...process.env, ...env.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => first.stdout.on('data', (d) => String(d).includes('started') && resolve()));
    try {
      const busy = await drillbook(['run', '01-history/hello', '--inventory', inventory], env);
      expect(busy.code).toBe(2);
      expect(busy.stderr).toMatch(/error\[refused\] ctl1: host ctl1 is busy: 01-history\/slow \(run [0-9a-f]{8}, pid \d+, since /);
      const free = await drillbook(['run', '01-history/fault', '--inventory', inventory, '--confirm', 'histtest'], env);
      expect(free.code, free.stderr).toBe(0);
    } finally {
      first.kill('SIGINT');
      await new Promise((r) => first.once('exit', r));
    }
    // Released: the same step now runs.
    expect((await drillbook(['run', '01-history/hello', '--inventory', inventory], env)).code).toBe(0);
  });
});

describe('production inventories', () => {
  it('refuse break steps unless --allow-breaks, and still need the confirmation', async () => {
    const refused = await drillbook(['run', '01-history/fault', '--inventory', production, '--confirm', 'prodtest'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/01-history\/fault is a break step and "prodtest" is a production inventory/);
    expect(refused.stderr).toMatch(/--allow-breaks/);
    const noConfirm = await drillbook(['run', '01-history/fault', '--inventory', production, '--allow-breaks'], env);
    expect(noConfirm.code).toBe(2);
    expect(noConfirm.stderr).toMatch(/needs a confirmation naming the target "prodtest"/);
    const ok = await drillbook(['run', '01-history/fault', '--inventory', production, '--allow-breaks', '--confirm', 'prodtest'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ctl2 │ breaking ctl2$/m);
  });

  it('run ordinary steps with strict, pinned host keys', async () => {
    const r = await drillbook(['run', '01-history/hello', '--inventory', production], env);
    expect(r.code, r.stderr).toBe(0);
  });
});
