/**
 * R6/R10: values the page gives are data, never shell text. A `text` value
 * may hold any characters, so it only reaches the script as an environment
 * variable: shell syntax in it is printed back verbatim and executes nothing.
 * A `secret` value is masked in every message the page receives.
 * Fixture chapter: ipv4 + text + secret variables, scripts that echo them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { frontmatter, step, writeChapters } from '../fixtures/chapters.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { connect, listDir, markerDir, privateStateDir, removeDir, rid, withChaptersDir, type WsClient } from './helpers.ts';

const NOTE = '01-fixture/echo-note';
const KEY = '01-fixture/echo-key';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let ws: WsClient;
let marker: string;
let chapters: string;

beforeAll(async () => {
  state = privateStateDir('r10-data');
  marker = markerDir('r10-data');
  const vars = ['vars:', '  vip: { type: ipv4, default: 10.0.0.1 }', '  note: { type: text }', '  api_key: { type: secret }', ''].join('\n');
  chapters = writeChapters({
    '01-fixture.mdx':
      frontmatter(vars) +
      step('id="echo-note" title="Echo the note" on="ctl1"', `printf 'vip=%s\\n' "{{vip}}"\nprintf 'note=%s|end\\n' "$note"`, 'Verify') +
      step('id="echo-key" title="Echo the key" on="ctl1,ctl2"', `printf 'key=%s\\n' "$api_key"\necho "stderr key $api_key" >&2`, 'Verify'),
  });
  fleet = await startSshFleet(['ctl1', 'ctl2']);
  server = await withChaptersDir(chapters, () => startServer({ port: 0, inventory: fleet.writeInventory(), log: () => {} }));
  ws = await connect(server);
});

afterAll(async () => {
  ws?.close();
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
  removeDir(marker);
  removeDir(chapters);
});

const output = (events: any[], host: string, stream = 'stdout') =>
  events.filter((e) => e.type === 'output' && e.host === host && e.stream === stream).map((e) => e.text).join('');

describe('a text value is passed as data', () => {
  it('prints shell syntax back verbatim and executes none of it', async () => {
    const m = marker;
    const note = `$(touch ${m}/a) \`touch ${m}/b\`; touch ${m}/c && touch ${m}/d | tee ${m}/e > ${m}/f\ntouch ${m}/g ' " \\ $HOME \${IFS} {{vip}} %s`;
    const plan = await ws.ask({ type: 'plan', id: rid(), step: NOTE, params: { note } });
    expect(plan.type, JSON.stringify(plan)).toBe('plan');
    // The page is shown the script as written: the value is not spliced into it.
    expect(plan.targets[0].display).toBe(`printf 'vip=%s\\n' "10.0.0.1"\nprintf 'note=%s|end\\n' "$note"`);
    expect(plan.targets[0].values).toEqual({ vip: '10.0.0.1' });

    const { first, events, done } = await ws.run({ type: 'run', id: rid(), step: NOTE, params: { note } });
    expect(first.type, JSON.stringify(first)).toBe('run-started');
    expect(done.result.verdict).toBe('passed');
    expect(output(events, 'ctl1')).toBe(`vip=10.0.0.1\nnote=${note}|end\n`);
    expect(listDir(marker)).toEqual([]);
  });

  it('while the same syntax in the ipv4 value is refused before anything runs', async () => {
    const { first } = await ws.run({ type: 'run', id: rid(), step: NOTE, params: { note: 'x', vip: `$(touch ${marker}/vip)` } });
    expect(first.type).toBe('error');
    expect(first.error.code).toBe('variable');
    expect(listDir(marker)).toEqual([]);
  });
});

describe('R10: a secret value never reaches the page', () => {
  const secret = 'hunter2-S3cr3t-value';

  it('is masked in streamed output, results and every other message', async () => {
    const before = ws.all.length;
    const plan = await ws.ask({ type: 'plan', id: rid(), step: KEY, params: { api_key: secret } });
    expect(plan.type, JSON.stringify(plan)).toBe('plan');
    const { first, events, done } = await ws.run({ type: 'run', id: rid(), step: KEY, params: { api_key: secret } });
    expect(first.type).toBe('run-started');
    expect(done.result.verdict).toBe('passed');
    // The script did receive the secret: it printed something in its place, masked.
    for (const host of ['ctl1', 'ctl2']) {
      expect(output(events, host)).toBe('key=••••••\n');
      expect(output(events, host, 'stderr')).toBe('stderr key ••••••\n');
    }
    const seen = JSON.stringify(ws.all.slice(before));
    expect(seen).toContain('••••••');
    expect(seen).not.toContain(secret);
    expect(seen).not.toContain('S3cr3t');
  });

  it('must not be empty', async () => {
    const answer = await ws.ask({ type: 'plan', id: rid(), step: KEY, params: { api_key: '' } });
    expect(answer.type).toBe('error');
    expect(answer.error.code).toBe('variable');
    expect(answer.error.message).not.toContain('""');
  });
});
