/**
 * Drill measurement against real sshd hosts and a real HTTP service: a
 * synthetic outage of known length (the service answers 503 while a flag
 * file exists; the break step holds it for exactly 2 s) must be measured
 * within ±300 ms.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeFigures, type DrillEvent } from '../../server/runner/drill.ts';
import { RunnerSession } from '../../server/runner/session.ts';
import { frontmatter, step, writeChapters } from '../fixtures/chapters.ts';
import { drillbook } from '../fixtures/cli.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let inventory: string;
let service: http.Server;
let chapters: string;
const flagDir = mkdtempSync(path.join(os.tmpdir(), 'drillbook-drill-'));
const flag = path.join(flagDir, 'down');
const saved = process.env.DRILLBOOK_CHAPTERS_DIR;

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  inventory = fleet.writeInventory({ name: 'drilltest' });
  // The "service": answers with its name, or 503 while the flag file exists.
  service = http.createServer((_req, res) => {
    if (existsSync(flag)) {
      res.writeHead(503);
      res.end('down\n');
    } else res.end('svc-a\n');
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', () => r()));
  const port = (service.address() as { port: number }).port;
  chmodSync(flagDir, 0o1777); // the break step runs as the unprivileged SSH test user
  const probe = `<Probe from="local" interval="100ms" timeout="500ms">\n\`\`\`bash\ncurl -sf -m 0.5 http://127.0.0.1:${port}/\n\`\`\`\n</Probe>\n`;
  chapters = writeChapters({
    '01-drills.mdx':
      frontmatter() +
      `<Drill id="two-seconds" title="A two-second outage" baseline="1s" settle="1s">\n${probe}\n` +
      step('id="hold-down" title="Hold the service down for 2 s" on="ctl1"', `touch ${flag}; sleep 2; rm -f ${flag}`, 'Break') +
      step('id="answers" title="It answers again" on="ctl2" retries={30} delay="100ms"', `curl -sf -m 0.5 http://127.0.0.1:${port}/`, 'Verify') +
      step('id="clean" title="No flag left" on="ctl1"', `rm -f ${flag}`, 'Recover') +
      `</Drill>\n\n` +
      `<Drill id="never-up" title="A service that was never up">\n${probe.replace(String(port), '1')}\n` +
      step('id="noop-break" title="Nothing" on="ctl1"', 'touch /tmp/drillbook-never-broken-' + process.pid, 'Break') +
      step('id="noop-verify" title="Nothing" on="ctl1"', 'true', 'Verify') +
      `</Drill>\n`,
  });
  process.env.DRILLBOOK_CHAPTERS_DIR = chapters;
});

afterAll(async () => {
  await new Promise<void>((r) => service?.close(() => r()));
  await fleet?.stopAll();
  rmSync(flagDir, { recursive: true, force: true });
  if (saved === undefined) delete process.env.DRILLBOOK_CHAPTERS_DIR;
  else process.env.DRILLBOOK_CHAPTERS_DIR = saved;
});

describe('measuring a drill', () => {
  it('measures a known 2 s outage within ±300 ms, and streams samples and phases', async () => {
    const session = new RunnerSession({ inventory });
    const events: DrillEvent[] = [];
    try {
      const drill = session.drill('01-drills/two-seconds');
      const result = await session.runDrill(session.planDrill(drill, {}), { onEvent: (e) => events.push(e) });
      expect(result.verdict, result.message).toBe('passed');
      const f = result.figures;
      expect(f.outageMs).toBeGreaterThanOrEqual(1700);
      expect(f.outageMs).toBeLessThanOrEqual(2300);
      expect(f.firstFailureMs).not.toBeNull();
      expect(f.firstFailureMs!).toBeLessThan(600);
      expect(f.restoredMs! - f.firstFailureMs!).toBeGreaterThanOrEqual(1700);
      expect(f.restoredMs! - f.firstFailureMs!).toBeLessThanOrEqual(2300);
      // ~10 probes a second over baseline + 2 s + settle: failures are the outage's share.
      expect(f.failed).toBeGreaterThanOrEqual(12);
      expect(f.failed).toBeLessThanOrEqual(26);
      expect(f.total).toBeGreaterThan(f.failed + 10);
      expect(f.servedBefore).toBe('svc-a');
      expect(f.servedAfter).toBe('svc-a');
      expect(result.phases.map((p) => p.name)).toEqual(['baseline', 'fault', 'fault-done', 'recovered', 'settled', 'restored-lab']);
      expect(result.phases.find((p) => p.name === 'fault')!.t).toBe(0);
      expect(result.message).toMatch(/first failed probe at .*; outage [\d.]+ s; service restored at/);
      expect(events.filter((e) => e.type === 'drill-sample').length).toBe(f.total);
      expect(events.some((e) => e.type === 'drill-step' && e.role === 'break' && e.event.type === 'done')).toBe(true);
      expect(events.at(-1)!.type).toBe('drill-done');
      const last = session.history().lastDrill('01-drills/two-seconds');
      expect(last?.runId).toBe(result.runId);
      expect(last?.figures).toEqual(result.figures);
    } finally {
      await session.close();
    }
  });

  it('does not break anything when the service is not up to begin with', async () => {
    const session = new RunnerSession({ inventory });
    try {
      const r = await session.runDrill(session.planDrill(session.drill('01-drills/never-up'), {}));
      expect(r.verdict).toBe('failed');
      expect(r.message).toMatch(/no probe succeeded during the baseline, so nothing was broken/);
      expect(existsSync(`/tmp/drillbook-never-broken-${process.pid}`)).toBe(false);
    } finally {
      await session.close();
    }
  });

  it('the CLI needs a confirmation, then prints the figures; --repeat reports min/median/max', async () => {
    const env = { env: { DRILLBOOK_CHAPTERS_DIR: chapters } };
    const refused = await drillbook(['drill', '01-drills/two-seconds', '--inventory', inventory], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/needs a confirmation naming the target "drilltest"/);
    const r = await drillbook(['drill', '01-drills/two-seconds', '--inventory', inventory, '--confirm', 'drilltest', '--repeat', '2'], { ...env, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/outage \(longest failed run\)\s+[12]\.\d\d s/);
    expect(r.stdout).toMatch(/OVER 2 RUNS\s+MIN\s+MEDIAN\s+MAX/);
    expect(r.stdout).toMatch(/^outage\s+[12]\.\d\d s\s+[12]\.\d\d s\s+[12]\.\d\d s$/m);
    const json = await drillbook(['drill', '1/two-seconds', '--inventory', inventory, '--confirm', 'drilltest', '--json'], { ...env, timeoutMs: 120_000 });
    const doc = JSON.parse(json.stdout);
    expect(doc.runs[0].samples.length).toBe(doc.runs[0].figures.total);
    expect(doc.summary.outageMs.n).toBe(1);
  });
});

describe('figures from samples', () => {
  const s = (t: number, ok: boolean, backend?: string) => ({ t, ms: 5, ok, rc: ok ? 0 : 7, backend });
  it('takes the longest run of failures as the outage and the first success after the last failure as restored', () => {
    const f = computeFigures([s(-400, true, 'ctl1'), s(-200, true, 'ctl1'), s(0, true, 'ctl1'), s(200, false), s(400, false), s(600, true, 'ctl2'), s(800, false), s(1000, true, 'ctl2'), s(1200, true, 'ctl2')], 900);
    expect(f).toMatchObject({ firstFailureMs: 200, outageMs: 400, restoredMs: 1000, recoveryConditionMs: 900, failed: 3, total: 9, servedBefore: 'ctl1', servedAfter: 'ctl2' });
  });
  it('names the one backend that served, or every backend when a balancer spread the requests', () => {
    const rr = (t0: number, names: string[]) => names.map((n, i) => s(t0 + i * 200, true, n));
    const f = computeFigures([...rr(-1200, ['ctl1', 'ctl2', 'ctl3', 'ctl1', 'ctl2', 'ctl3']), ...rr(200, ['ctl1', 'ctl3', 'ctl1', 'ctl3'])], 100);
    expect(f).toMatchObject({ servedBefore: 'ctl1,ctl2,ctl3', servedAfter: 'ctl1,ctl3' });
    // One stray answer among ten does not turn a single backend into a set.
    const g = computeFigures([...rr(-2000, ['ctl1', 'ctl1', 'ctl1', 'ctl1', 'ctl2', 'ctl1', 'ctl1', 'ctl1', 'ctl1', 'ctl1'])], 0);
    expect(g.servedBefore).toBe('ctl1');
  });
  it('reports no failure and an outage of 0 when every probe passed', () => {
    expect(computeFigures([s(-100, true, 'a'), s(100, true, 'a')], 50)).toMatchObject({ firstFailureMs: null, outageMs: 0, restoredMs: 0 });
  });
  it('an outage still running at the end is not restored', () => {
    expect(computeFigures([s(-100, true), s(100, false), s(300, false)], null)).toMatchObject({ outageMs: 205, restoredMs: null, recoveryConditionMs: null });
  });
});
