/**
 * R1 Bind: the server listens on loopback only, and refuses a non-loopback
 * bind address outright (before listening on anything).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/main.ts';
import { freePort, startSshFleet, type SshFleet } from '../fixtures/sshd.ts';
import { httpRequest, privateStateDir } from './helpers.ts';

let fleet: SshFleet;
let inventory: string;
let server: RunningServer;
let state: ReturnType<typeof privateStateDir>;

beforeAll(async () => {
  state = privateStateDir('r01');
  fleet = await startSshFleet(['ctl1']);
  inventory = fleet.writeInventory();
  server = await startServer({ port: 0, inventory, log: () => {} });
});

afterAll(async () => {
  await server?.close();
  await fleet?.stopAll();
  state?.restore();
});

/** Local addresses of TCP sockets listening on `port`, read from the kernel's table. */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // 0A = LISTEN
      const [addr, p] = f[1].split(':');
      if (p === hexPort) out.push(addr);
    }
  }
  return out;
}

/** Non-loopback IPv4 addresses of this machine. */
function externalIPv4(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((i): i is os.NetworkInterfaceInfo => !!i && i.family === 'IPv4' && !i.internal)
    .map((i) => i.address);
}

function tcpConnect(host: string, port: number): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 3000 });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.once('timeout', () => {
      s.destroy();
      resolve('timeout');
    });
  });
}

function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

describe('R1: loopback bind', () => {
  it('listens on 127.0.0.1 by default and prints a 127.0.0.1 URL', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    // The kernel's own socket table: one listener, on 127.0.0.1 (0100007F), not 0.0.0.0.
    expect(listeningAddresses(server.port)).toEqual(['0100007F']);
    expect((await httpRequest(server.port, '/')).status).toBe(200);
  });

  it('cannot be reached on a non-loopback address of this machine', async () => {
    const addresses = externalIPv4();
    expect(addresses.length, 'this test needs a non-loopback IPv4 interface').toBeGreaterThan(0);
    expect(await tcpConnect('127.0.0.1', server.port)).toBe('connected');
    for (const a of addresses) expect(await tcpConnect(a, server.port), a).toBe('ECONNREFUSED');
  });

  it.each(['0.0.0.0', '::', '', ...externalIPv4(), 'example.com', '127.0.0.1 '])('refuses to bind %j and leaves nothing listening', async (bind) => {
    const port = await freePort();
    await expect(startServer({ port, bind, inventory, log: () => {} })).rejects.toMatchObject({
      code: 'refused',
      where: '--bind',
      message: expect.stringContaining(`refusing to bind ${bind}`),
      hint: expect.stringContaining('ssh -L'),
    });
    expect(await portIsFree(port, '0.0.0.0')).toBe(true);
  });

  it('binds ::1 when asked, and its URL works', async () => {
    const v6 = await startServer({ port: 0, bind: '::1', inventory, log: () => {} });
    try {
      expect(v6.url).toBe(`http://[::1]:${v6.port}/?token=${v6.token}`);
      expect(listeningAddresses(v6.port)).toEqual(['00000000000000000000000001000000']);
      const r = await httpRequest(v6.port, `/?token=${v6.token}`, { host: '::1', headers: { Host: `[::1]:${v6.port}` } });
      expect(r.status).toBe(303);
    } finally {
      await v6.close();
    }
  });

  it('binds "localhost" to loopback, and the printed URL reaches it', async () => {
    const lh = await startServer({ port: 0, bind: 'localhost', inventory, log: () => {} });
    try {
      expect(lh.url).toBe(`http://127.0.0.1:${lh.port}/?token=${lh.token}`);
      const r = await fetch(lh.url, { redirect: 'manual' });
      expect(r.status).toBe(303);
      expect(listeningAddresses(lh.port).every((a) => a === '0100007F' || a === '00000000000000000000000001000000')).toBe(true);
    } finally {
      await lh.close();
    }
  });
});
