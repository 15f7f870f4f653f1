/**
 * The terminal WebSocket (`/api/term`), one socket per open terminal. The
 * gate has already checked Host, Origin, the session cookie and the
 * terminal capability. Thin: it parses messages and calls the manager.
 *
 * Page → server: text JSON `open` | `attach` (first message), then
 * `resize`, `ack` (bytes written to the screen), `close`; keystrokes as
 * binary frames. Server → page: text JSON `ready`, `ended`, `replaced`,
 * `error`; terminal output as binary frames (the replay first).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import { DrillbookError, Refused } from '../../src/runbook/errors.ts';
import { TERM_PROTOCOL } from '../gate.ts';
import { TerminalSession, type TerminalManager, type TerminalSink } from './manager.ts';

const size = { cols: z.number().int().min(2).max(1000), rows: z.number().int().min(1).max(500) };
const target = z.discriminatedUnion('kind', [z.object({ kind: z.literal('host'), host: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/) }).strict(), z.object({ kind: z.literal('local') }).strict()]);

export const TermClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('open'), target, ...size }).strict(),
  z.object({ type: z.literal('attach'), id: z.string().uuid(), ...size }).strict(),
  z.object({ type: z.literal('resize'), ...size }).strict(),
  z.object({ type: z.literal('ack'), bytes: z.number().int().min(0).max(1 << 30) }).strict(),
  z.object({ type: z.literal('close') }).strict(),
]);

function errorBody(e: unknown) {
  if (e instanceof DrillbookError) return e.toJSON();
  return { code: 'internal', message: (e as Error).message ?? String(e) };
}

function bytesOf(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class TerminalEndpoint {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, handleProtocols: (protocols) => (protocols.has(TERM_PROTOCOL) ? TERM_PROTOCOL : false) });

  constructor(private readonly manager: TerminalManager) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, owner: object): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connection(ws, owner));
  }

  private connection(ws: WebSocket, owner: object): void {
    let term: TerminalSession | undefined;
    let starting = false;
    const sendJson = (m: Record<string, unknown>) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
    };
    const fail = (e: unknown) => {
      sendJson({ type: 'error', error: errorBody(e) });
      ws.close(1008, 'refused');
    };
    const sink: TerminalSink = {
      output: (chunk) => {
        if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
      },
      ended: (info) => {
        sendJson({ type: 'ended', ...info });
        ws.close(1000, 'ended');
      },
      replaced: () => {
        sendJson({ type: 'replaced' });
        term = undefined;
        ws.close(1000, 'replaced');
      },
      bufferedAmount: () => ws.bufferedAmount,
    };
    const attach = (t: TerminalSession, cols: number, rows: number, opened: boolean) => {
      term = t;
      const replay = t.attach(sink, { cols, rows });
      sendJson({ type: 'ready', id: t.id, label: t.label, detail: t.detail, target: t.target, opened, replay: replay.length, idleMs: this.manager.idleMs });
      if (replay.length) ws.send(replay, { binary: true });
    };

    ws.on('message', async (data, isBinary) => {
      if (isBinary) {
        if (term) term.input(bytesOf(data));
        return;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString());
      } catch {
        return fail(new Refused('control messages are JSON text'));
      }
      const parsed = TermClientMessage.safeParse(raw);
      if (!parsed.success) {
        return fail(new Refused(`refused terminal message: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')}`));
      }
      const msg = parsed.data;
      if (msg.type === 'open' || msg.type === 'attach') {
        if (term || starting) return fail(new Refused('this socket already has a terminal'));
        if (msg.type === 'attach') {
          const found = this.manager.find(owner, msg.id);
          if (!(found instanceof TerminalSession)) {
            return fail(new DrillbookError('terminal-ended', found.ended ? `this terminal has ended: ${found.ended.reason}` : 'this terminal is not running any more', { hint: 'open a new one' }));
          }
          return attach(found, msg.cols, msg.rows, false);
        }
        starting = true;
        try {
          const t = await this.manager.open(owner, msg.target, { cols: msg.cols, rows: msg.rows });
          // The page went away while the shell started: nobody knows its id.
          if (ws.readyState !== ws.OPEN) return t.end('the page closed before the shell started');
          attach(t, msg.cols, msg.rows, true);
        } catch (e) {
          fail(e);
        } finally {
          starting = false;
        }
        return;
      }
      if (!term) return fail(new Refused('open or attach a terminal first'));
      if (msg.type === 'resize') term.resize({ cols: msg.cols, rows: msg.rows });
      else if (msg.type === 'ack') term.ack(msg.bytes);
      else if (msg.type === 'close') term.end('closed from the page');
    });
    ws.on('close', () => {
      term?.detach(sink);
      term = undefined;
    });
    ws.on('error', () => {});
  }

  /** Let pages read why their terminal ended (up to a second), then drop every socket. */
  async close(): Promise<void> {
    const open = [...this.wss.clients];
    await Promise.race([Promise.all(open.map((c) => (c.readyState === c.CLOSED ? undefined : new Promise((r) => c.once('close', r))))), new Promise((r) => setTimeout(r, 1000).unref())]);
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }
}
