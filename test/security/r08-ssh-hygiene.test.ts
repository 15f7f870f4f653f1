/**
 * R8 SSH hygiene, seen from the page: host keys are verified (recorded on
 * first use for a lab, strict for production, a changed key is refused
 * before login), and nothing about the private key ever reaches the browser.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { acceptedLogins, httpRequest, login, privateStateDir, rid, upgrade, wsProtocols, type WsClient } from './helpers.ts';

const NODES = '01-cloud-computing-and-ha/nodes-answer';

let fleet: SshFleet;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;
let ws: WsClient;
let inventory: string;
let labText: string;
let knownHosts: string;
let wrongKey: string;
let sessionBody: string;

beforeAll(async () => {
  state = privateStateDir('r08');
  fleet = await startSshFleet(['ctl1', 'ctl2', 'ctl3']);
  inventory = fleet.writeInventory();
  labText = readFileSync(inventory, 'utf8');
  // ctl1's recorded key is not the key it presents (as after a reinstall, or an impostor).
  wrongKey = readFileSync(`${fleet.wrongKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  mkdirSync(state.dir, { recursive: true, mode: 0o700 });
  knownHosts = path.join(state.dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${fleet.hosts[0].port} ${wrongKey}\n`, { mode: 0o600 });
  server = await startServer({ port: 0, inventory, log: () => {} });
  const auth = await login(server);
  sessionBody = JSON.stringify(auth.session);
  const r = await upgrade(server.port, { cookie: auth.cookie, protocols: wsProtocols(auth.wsToken) });
  if (!r.ok) throw new Error(`upgrade refused: ${r.status}`);
  ws = r.client;
});

afterAll(async () => {
  ws?.close();
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
});

const verdicts = (done: any) => Object.fromEntries(done.result.hosts.map((h: { host: string; verdict: string }) => [h.host, h.verdict]));
const loginsOn = (name: string) =>
  readFileSync(path.join(fleet.dir, `sshd_${name}.log`), 'utf8')
    .split('\n')
    .filter((l) => l.includes('Accepted publickey')).length;

describe('R8: host keys, production profile (strict)', () => {
  it('refuses hosts whose key is not known, and a host whose key differs, before logging in', async () => {
    writeFileSync(inventory, labText.replace('profile: lab', 'profile: production'));
    const { first, events, done } = await ws.run({ type: 'run', id: rid(), step: NODES });
    expect(first.type, JSON.stringify(first)).toBe('run-started');
    expect(verdicts(done)).toEqual({ ctl1: 'host-key-mismatch', ctl2: 'host-key-unknown', ctl3: 'host-key-unknown' });
    expect(events.filter((e) => e.type === 'output')).toEqual([]);
    expect(acceptedLogins(fleet)).toBe(0);
    // Strict mode records nothing.
    expect(readFileSync(knownHosts, 'utf8')).toBe(`[127.0.0.1]:${fleet.hosts[0].port} ${wrongKey}\n`);
  });

  it('connects to hosts whose key is pinned in the inventory (the allowed counterpart)', async () => {
    const pinned = fleet.writeInventory({ file: path.join(fleet.dir, 'pinned.yaml'), hostKeys: true });
    writeFileSync(inventory, readFileSync(pinned, 'utf8').replace('profile: lab', 'profile: production'));
    const { done } = await ws.run({ type: 'run', id: rid(), step: NODES });
    expect(verdicts(done)).toEqual({ ctl1: 'passed', ctl2: 'passed', ctl3: 'passed' });
  });
});

describe('R8: host keys, lab profile (recorded on first use)', () => {
  it('records unknown keys, and still refuses the host whose recorded key differs', async () => {
    writeFileSync(inventory, labText);
    const ctl1Logins = loginsOn('ctl1');
    const { events, done } = await ws.run({ type: 'run', id: rid(), step: NODES });
    expect(verdicts(done)).toEqual({ ctl1: 'host-key-mismatch', ctl2: 'passed', ctl3: 'passed' });
    const ctl1 = done.result.hosts.find((h: { host: string }) => h.host === 'ctl1');
    expect(ctl1.message).toMatch(/host key of 127\.0\.0\.1:\d+ changed/);
    expect(events.filter((e) => e.type === 'output' && e.host === 'ctl1')).toEqual([]);
    expect(loginsOn('ctl1')).toBe(ctl1Logins);
    const recorded = readFileSync(knownHosts, 'utf8');
    for (const h of fleet.hosts.slice(1)) expect(recorded).toContain(`[127.0.0.1]:${h.port} ${h.hostPublicKey}`);
    expect(recorded).not.toContain(fleet.hosts[0].hostPublicKey);
  });
});

describe('R8: keys never reach the browser', () => {
  it('no message, session answer or page names the private key or contains key material', async () => {
    const key = readFileSync(fleet.clientKey, 'utf8');
    const keyBody = key.split('\n').filter((l) => l && !l.startsWith('-----'))[0];
    const everything = sessionBody + JSON.stringify(ws.all);
    expect(ws.all.some((m) => m.type === 'run-event')).toBe(true);
    for (const secret of [fleet.clientKey, path.basename(fleet.clientKey), 'PRIVATE KEY', keyBody]) {
      expect(everything).not.toContain(secret);
    }
    const r = await httpRequest(server.port, fleet.clientKey);
    expect(r.status).toBe(404);
    expect(r.body).not.toContain('PRIVATE KEY');
  });
});
