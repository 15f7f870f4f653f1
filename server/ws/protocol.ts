/**
 * WebSocket messages. Client messages are parsed strictly: a message with a
 * field the protocol does not define (a `script`, a `command`) is refused,
 * so the browser can only ever name a manifest step and give values.
 */
import { z } from 'zod';
import type { RunEvent } from '../runner/execute.ts';
import type { DrillEvent, DrillResult } from '../runner/drill.ts';
import { LAB_ACTIONS, type LabStatusView } from '../lab/manager.ts';

const id = z.string().min(1).max(64);
const stepId = z.string().regex(/^[0-9]{2}-[a-z0-9-]+\/[a-z0-9][a-z0-9-]*$/, 'a step is named chapter-slug/step-id');
const params = z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.string().max(65536)).default({});

export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('plan'), id, step: stepId, hash: z.string().optional(), params }).strict(),
  z.object({ type: z.literal('run'), id, step: stepId, hash: z.string().optional(), params, confirm: z.string().optional() }).strict(),
  z.object({ type: z.literal('cancel'), id, runId: z.string().uuid() }).strict(),
  z.object({ type: z.literal('drill'), id, drill: stepId, hash: z.string().optional(), params, confirm: z.string().optional() }).strict(),
  z.object({ type: z.literal('drill-last'), id, drill: stepId }).strict(),
  z.object({ type: z.literal('map-poll'), id, map: stepId, hash: z.string().optional(), params }).strict(),
  z.object({ type: z.literal('prepare'), id, chapter: z.string().regex(/^[0-9]{2}-[a-z0-9-]+$/, 'a chapter is named by its slug'), confirm: z.string().max(64).optional() }).strict(),
  z.object({ type: z.literal('progress'), id }).strict(),
  z.object({ type: z.literal('lab-status'), id }).strict(),
  z.object({ type: z.literal('lab-action'), id, action: z.enum(LAB_ACTIONS), node: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/).optional(), confirm: z.string().max(64).optional() }).strict(),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

export interface InventorySummary {
  name: string;
  profile: 'lab' | 'production';
  fingerprint: string;
  hosts: { name: string; address: string }[];
  groups: Record<string, string[]>;
}

export type ServerMessage =
  | { type: 'hello'; inventory?: InventorySummary; problem?: ErrorBody }
  | { type: 'plan'; id: string; step: string; inventory: string; needsConfirm: boolean; skip?: string; targets: { host: string; address: string; display: string; where?: string; values: Record<string, string> }[] }
  | { type: 'run-started'; id: string; runId: string }
  | { type: 'run-event'; id: string; event: RunEvent }
  | { type: 'drill-plan'; id: string; drill: string; inventory: string; probeFrom: string; targets: { role: 'break' | 'verify' | 'recover'; hosts: string[] }[] }
  | { type: 'drill-event'; id: string; event: DrillEvent }
  | { type: 'drill-last'; id: string; result?: DrillResult }
  | { type: 'map'; id: string; map: string; at: string; nodes: { host: string; address: string; reachable: boolean; facts: Record<string, string>; error?: string }[] }
  | { type: 'prepare-plan'; id: string; chapter: string; inventory: string; runId: string; steps: { step: string; title: string; chapter: string; hosts: string[] }[] }
  | { type: 'prepare-done'; id: string; ok: boolean; passed: number; total: number; stoppedAt?: string; cancelled: boolean }
  | { type: 'progress'; id: string; inventory: string; items: Record<string, { verdict: string; at: string; runId: string }> }
  | { type: 'lab-status'; id: string; status: LabStatusView }
  | { type: 'lab-output'; id: string; text: string }
  | { type: 'lab-done'; id: string; ok: boolean; error?: ErrorBody }
  | { type: 'error'; id?: string; error: ErrorBody };

export interface ErrorBody {
  code: string;
  message: string;
  where?: string;
  hint?: string;
}
