/** WebSocket handlers: parse, call the runner session, send back a model. Thin by design. */
import type { WebSocket } from 'ws';
import { DrillbookError, Refused } from '../../src/runbook/errors.ts';
import { inventoryFingerprint, type Inventory } from '../inventory.ts';
import type { RunnerSession } from '../runner/session.ts';
import type { LabManager } from '../lab/manager.ts';
import type { DrillResult } from '../runner/drill.ts';
import type { RunEvent } from '../runner/execute.ts';
import { ClientMessageSchema, type ErrorBody, type InventorySummary, type ServerMessage } from './protocol.ts';
import { randomUUID } from 'node:crypto';

export function summarise(inv: Inventory): InventorySummary {
  return {
    name: inv.name,
    profile: inv.profile,
    fingerprint: inventoryFingerprint(inv),
    hosts: Object.values(inv.hosts).map((h) => ({ name: h.name, address: h.address })),
    groups: inv.groups,
  };
}

function errorBody(e: unknown): ErrorBody {
  if (e instanceof DrillbookError) return e.toJSON();
  return { code: 'internal', message: (e as Error).message ?? String(e) };
}

/** Bytes queued on a page's socket above which step output is dropped (and counted) instead of queued. */
export const OUTPUT_HIGH_WATER = 1 << 20;

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

export function attachConnection(ws: WebSocket, session: RunnerSession, lab: LabManager, onActivity: () => void = () => {}): void {
  const runs = new Map<string, AbortController>();
  const send = (m: ServerMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };

  // A page that reads slower than a step writes (a background tab, a slow
  // link) must not make the server queue the difference: past the high-water
  // mark, output is dropped and counted per host, and the page gets one
  // notice saying how much once the socket has drained (or before the
  // verdict). The run itself never slows down, and its record keeps the tail.
  const dropped = new Map<string, { bytes: number; notice: (text: string, bytes: number) => ServerMessage }>();
  const flushDropped = () => {
    for (const d of dropped.values()) send(d.notice(`\n[drillbook: ${fmtBytes(d.bytes)} of output not shown here: it came faster than this page could take it]\n`, d.bytes));
    dropped.clear();
  };
  /** Send a run event; output goes through the gate, anything else first flushes the notices. */
  const sendEvent = (event: RunEvent, wrap: (event: RunEvent) => ServerMessage) => {
    if (event.type !== 'output') {
      flushDropped();
      return send(wrap(event));
    }
    if (ws.bufferedAmount > OUTPUT_HIGH_WATER) {
      const key = `${event.runId}\0${event.host}`;
      const d = dropped.get(key) ?? { bytes: 0, notice: (text, bytes) => wrap({ type: 'output', runId: event.runId, host: event.host, stream: 'stderr', text, dropped: bytes }) };
      d.bytes += Buffer.byteLength(event.text);
      dropped.set(key, d);
      return;
    }
    if (dropped.size) flushDropped();
    send(wrap(event));
  };

  try {
    send({ type: 'hello', inventory: summarise(session.inventory()) });
  } catch (e) {
    send({ type: 'hello', problem: errorBody(e) });
  }

  ws.on('message', async (data, isBinary) => {
    onActivity();
    let raw: unknown;
    try {
      if (isBinary) throw new Error('binary');
      raw = JSON.parse(data.toString());
    } catch {
      return send({ type: 'error', error: errorBody(new Refused('messages are JSON text'))});
    }
    const parsed = ClientMessageSchema.safeParse(raw);
    const reqId = typeof (raw as { id?: unknown })?.id === 'string' ? (raw as { id: string }).id : undefined;
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ');
      return send({ type: 'error', id: reqId, error: errorBody(new Refused(`refused message: ${detail}`, undefined, 'the page can only name a step of the runbook and give values for its variables')) });
    }
    const msg = parsed.data;
    try {
      switch (msg.type) {
        case 'plan': {
          const step = session.step(msg.step, msg.hash);
          const plan = session.plan(step, msg.params, 'page');
          return send({
            type: 'plan',
            id: msg.id,
            step: step.globalId,
            inventory: plan.inventory.name,
            needsConfirm: plan.needsConfirm,
            skip: plan.skip,
            targets: plan.targets.map((t) => ({ host: t.host.name, address: t.host.address, display: t.display, where: t.whereDisplay, values: t.values })),
          });
        }
        case 'run': {
          const step = session.step(msg.step, msg.hash);
          const plan = session.plan(step, msg.params, 'page');
          session.checkConfirmation(plan, msg.confirm);
          const runId = randomUUID();
          const ctl = new AbortController();
          runs.set(runId, ctl);
          send({ type: 'run-started', id: msg.id, runId });
          try {
            await session.run(plan, { runId, source: 'page', signal: ctl.signal, onEvent: (event) => sendEvent(event, (e) => ({ type: 'run-event', id: msg.id, event: e })) });
          } finally {
            runs.delete(runId);
          }
          return;
        }
        case 'drill': {
          const drill = session.drill(msg.drill, msg.hash);
          const plans = session.planDrill(drill, msg.params, 'page');
          session.checkConfirmation(plans.breakStep, msg.confirm);
          const runId = randomUUID();
          const ctl = new AbortController();
          runs.set(runId, ctl);
          send({ type: 'run-started', id: msg.id, runId });
          send({
            type: 'drill-plan',
            id: msg.id,
            drill: drill.globalId,
            inventory: plans.breakStep.inventory.name,
            probeFrom: plans.probe.targets[0].host.name,
            targets: [
              { role: 'break', hosts: plans.breakStep.targets.map((t) => t.host.name) },
              { role: 'verify', hosts: plans.verify.targets.map((t) => t.host.name) },
              ...(plans.recover ? [{ role: 'recover' as const, hosts: plans.recover.targets.map((t) => t.host.name) }] : []),
            ],
          });
          try {
            await session.runDrill(plans, {
              runId,
              source: 'page',
              signal: ctl.signal,
              onEvent: (event) => {
                if (event.type !== 'drill-step') {
                  flushDropped();
                  return send({ type: 'drill-event', id: msg.id, event });
                }
                sendEvent(event.event, (e) => ({ type: 'drill-event', id: msg.id, event: { ...event, event: e } }));
              },
            });
          } finally {
            runs.delete(runId);
          }
          return;
        }
        case 'prepare': {
          // The steps of the chapters this one builds on, in book order, on the session's target.
          const plans = session.preparePlans(msg.chapter);
          const runId = randomUUID();
          const ctl = new AbortController();
          runs.set(runId, ctl);
          send({
            type: 'prepare-plan',
            id: msg.id,
            chapter: msg.chapter,
            inventory: plans[0].inventory.name,
            runId,
            steps: plans.map((p) => ({ step: p.step.globalId, title: p.step.title, chapter: p.step.chapter, hosts: p.targets.map((t) => t.host.name) })),
          });
          try {
            const out = await session.runSequence(plans, { signal: ctl.signal, confirm: msg.confirm, source: 'page', onEvent: (event) => sendEvent(event, (e) => ({ type: 'run-event', id: msg.id, event: e })) });
            flushDropped();
            const passed = out.results.filter((r) => r.verdict === 'passed' || r.verdict === 'skipped').length;
            send({ type: 'prepare-done', id: msg.id, ok: !out.stoppedAt && !out.cancelled, passed, total: plans.length, stoppedAt: out.stoppedAt, cancelled: out.cancelled });
          } finally {
            runs.delete(runId);
          }
          return;
        }
        case 'drill-last':
          session.drill(msg.drill);
          return send({ type: 'drill-last', id: msg.id, result: session.history().lastDrill(msg.drill) as DrillResult | undefined });
        case 'map-poll': {
          const map = session.map(msg.map, msg.hash);
          return send({ type: 'map', id: msg.id, map: map.globalId, at: new Date().toISOString(), nodes: await session.pollMap(map, msg.params) });
        }
        case 'progress': {
          const inv = session.inventory();
          return send({ type: 'progress', id: msg.id, inventory: inv.name, items: session.history().progress(inventoryFingerprint(inv)) });
        }
        case 'lab-status':
          return send({ type: 'lab-status', id: msg.id, status: await lab.status() });
        case 'lab-action': {
          try {
            await lab.act(msg.action, msg.node, msg.confirm, (text) => send({ type: 'lab-output', id: msg.id, text }));
            send({ type: 'lab-done', id: msg.id, ok: true });
          } catch (e) {
            send({ type: 'lab-done', id: msg.id, ok: false, error: errorBody(e) });
          }
          return;
        }
        case 'cancel': {
          const ctl = runs.get(msg.runId);
          if (!ctl) throw new Refused(`no running run ${msg.runId} on this connection`);
          ctl.abort();
          return;
        }
      }
    } catch (e) {
      send({ type: 'error', id: msg.id, error: errorBody(e) });
    }
  });

  // A frame over maxPayload or invalid UTF-8 is this connection's problem,
  // never the server's: close it with the reason, keep serving the rest.
  ws.on('error', (err) => {
    process.stderr.write(`drillbook: closed a WebSocket after a protocol error: ${err.message}\n`);
    ws.terminate();
  });

  // A closed page cancels what it started: nothing keeps running unobserved.
  ws.on('close', () => {
    for (const ctl of runs.values()) ctl.abort();
  });
}
