/**
 * A page that stops reading (a background tab, a slow link) while a step
 * floods output: the server drops output past its high-water mark instead
 * of queueing it, tells the page how much it dropped, and every byte the
 * step wrote is accounted for as either delivered or dropped. The run is not
 * slowed down and its verdict still arrives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { frontmatter, step, writeChapters } from '../fixtures/chapters.ts';
import { openClient } from '../fixtures/session.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';

let fleet: SshFleet;
let server: RunningServer;
const saved = process.env.DRILLBOOK_CHAPTERS_DIR;
const FLOOD = 48 << 20; // 48 MiB in lines of 1024 bytes
const SMALL = 256 << 10;

beforeAll(async () => {
  fleet = await startSshFleet(['ctl1']);
  process.env.DRILLBOOK_CHAPTERS_DIR = writeChapters({
    '01-fixture.mdx':
      frontmatter() +
      step('id="flood" title="Flood" on="ctl1"', `head -c ${FLOOD} /dev/zero | tr '\\0' x | fold -w 1023`) +
      step('id="small" title="Small" on="ctl1"', `head -c ${SMALL} /dev/zero | tr '\\0' y | fold -w 1023`),
  });
  server = await startServer({ port: 0, inventory: fleet.writeInventory({ name: 'bptest' }) });
});
afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  if (saved === undefined) delete process.env.DRILLBOOK_CHAPTERS_DIR;
  else process.env.DRILLBOOK_CHAPTERS_DIR = saved;
});

const bytes = (s: string) => Buffer.byteLength(s);

describe('output to a slow page', () => {
  it('drops what the page cannot take, says how much, and accounts for every byte', async () => {
    const c = await openClient(server);
    c.send({ type: 'run', id: 'f1', step: '01-fixture/flood' });
    await c.waitFor((m) => m.id === 'f1' && m.type === 'run-started');
    // The page stops reading while the step writes 48 MiB.
    c.ws.pause();
    await new Promise((r) => setTimeout(r, 4000));
    c.ws.resume();
    const done = await c.waitFor((m) => m.id === 'f1' && m.event?.type === 'done', 60_000);
    expect(done.event.result.verdict).toBe('passed');
    const outputs = c.messages.filter((m) => m.id === 'f1' && m.event?.type === 'output').map((m) => m.event);
    const notices = outputs.filter((e) => e.dropped);
    const delivered = outputs.filter((e) => !e.dropped).reduce((n, e) => n + bytes(e.text), 0);
    const dropped = notices.reduce((n, e) => n + e.dropped, 0);
    // fold breaks the input into lines of 1023 bytes; the last one has no newline.
    const written = FLOOD + Math.ceil(FLOOD / 1023) - 1;
    expect(notices.length).toBeGreaterThanOrEqual(1);
    expect(dropped).toBeGreaterThan(FLOOD / 4);
    expect(delivered + dropped).toBe(written);
    expect(notices[0]).toMatchObject({ host: 'ctl1', stream: 'stderr' });
    expect(notices[0].text).toMatch(/^\n\[drillbook: [\d.]+ (MiB|KiB) of output not shown here: it came faster than this page could take it\]\n$/);
    // The notice comes before the verdict, and the run's record has the tail of the real output.
    const idx = (pred: (m: { event?: { type: string; dropped?: number } }) => boolean) => c.messages.findIndex((m) => m.id === 'f1' && pred(m));
    expect(idx((m) => !!m.event?.dropped)).toBeLessThan(idx((m) => m.event?.type === 'done'));
    expect(done.event.result.hosts[0].output).toMatch(/\nx+$/);
    c.close();
  }, 120_000);

  it('a page that keeps up gets all of it, with no notice', async () => {
    const c = await openClient(server);
    c.send({ type: 'run', id: 's1', step: '01-fixture/small' });
    await c.waitFor((m) => m.id === 's1' && m.event?.type === 'done');
    const outputs = c.messages.filter((m) => m.id === 's1' && m.event?.type === 'output').map((m) => m.event);
    expect(outputs.some((e) => e.dropped)).toBe(false);
    expect(outputs.reduce((n, e) => n + bytes(e.text), 0)).toBe(SMALL + Math.ceil(SMALL / 1023) - 1);
    c.close();
  });
});
