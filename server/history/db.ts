/**
 * Run history in SQLite: every step and drill run, who ran it where, per-host
 * results and output (secrets already masked by the runner), drill figures.
 * Shared by the server and CLI processes (WAL, busy timeout); a run whose
 * process died is recorded as interrupted, never lost or left "running".
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { stateDir } from '../state.ts';
import { processAlive } from '../process.ts';
import type { DrillResult } from '../runner/drill.ts';
import type { RunResult } from '../runner/results.ts';

const MIGRATIONS = [
  `CREATE TABLE runs (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('step', 'drill')),
     item TEXT NOT NULL,            -- step or drill global id
     item_hash TEXT NOT NULL,
     chapter TEXT NOT NULL,
     title TEXT NOT NULL,
     inventory TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     profile TEXT NOT NULL,
     targets TEXT NOT NULL,         -- JSON array of host names
     params TEXT NOT NULL,          -- JSON, secrets masked
     source TEXT NOT NULL,          -- cli | page
     user TEXT NOT NULL,
     owner_pid INTEGER NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('running', 'done', 'interrupted')),
     verdict TEXT,
     message TEXT,
     started_at TEXT NOT NULL,
     finished_at TEXT,
     duration_ms INTEGER
   )`,
  `CREATE INDEX runs_by_item ON runs (fingerprint, item, started_at)`,
  `CREATE INDEX runs_by_chapter ON runs (chapter, started_at)`,
  `CREATE TABLE host_results (
     run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     role TEXT NOT NULL DEFAULT '',  -- for drills: break | verify | recover
     host TEXT NOT NULL,
     address TEXT NOT NULL,
     verdict TEXT NOT NULL,
     exit_code INTEGER,
     attempts INTEGER NOT NULL,
     duration_ms INTEGER NOT NULL,
     message TEXT NOT NULL,
     output TEXT NOT NULL,
     PRIMARY KEY (run_id, role, host)
   )`,
  `CREATE TABLE drill_results (
     run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
     figures TEXT NOT NULL,
     phases TEXT NOT NULL,
     samples TEXT NOT NULL
   )`,
];

export interface RunStart {
  id: string;
  kind: 'step' | 'drill';
  item: string;
  itemHash: string;
  chapter: string;
  title: string;
  inventory: string;
  fingerprint: string;
  profile: string;
  targets: string[];
  params: Record<string, string>;
  source: 'cli' | 'page';
}

export interface RunRow {
  id: string;
  kind: 'step' | 'drill';
  item: string;
  item_hash: string;
  chapter: string;
  title: string;
  inventory: string;
  fingerprint: string;
  profile: string;
  targets: string;
  params: string;
  source: string;
  user: string;
  owner_pid: number;
  status: 'running' | 'done' | 'interrupted';
  verdict: string | null;
  message: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface HostRow {
  run_id: string;
  role: string;
  host: string;
  address: string;
  verdict: string;
  exit_code: number | null;
  attempts: number;
  duration_ms: number;
  message: string;
  output: string;
}


export class History {
  readonly db: Database.Database;

  constructor(readonly file = path.join(stateDir(), 'history.sqlite')) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    const apply = this.db.transaction(() => {
      for (let i = version; i < MIGRATIONS.length; i++) this.db.exec(MIGRATIONS[i]);
      this.db.pragma(`user_version = ${MIGRATIONS.length}`);
    });
    if (version < MIGRATIONS.length) apply();
  }

  /** Runs left "running" by a process that no longer exists become interrupted. Returns how many. */
  markInterrupted(): number {
    const rows = this.db.prepare(`SELECT id, owner_pid FROM runs WHERE status = 'running'`).all() as { id: string; owner_pid: number }[];
    const dead = rows.filter((r) => r.owner_pid !== process.pid && !processAlive(r.owner_pid));
    const mark = this.db.prepare(`UPDATE runs SET status = 'interrupted', verdict = 'interrupted', message = 'the process running it stopped before it finished', finished_at = ? WHERE id = ? AND status = 'running'`);
    const now = new Date().toISOString();
    this.db.transaction(() => dead.forEach((r) => mark.run(now, r.id)))();
    return dead.length;
  }

  start(r: RunStart): void {
    this.db
      .prepare(
        `INSERT INTO runs (id, kind, item, item_hash, chapter, title, inventory, fingerprint, profile, targets, params, source, user, owner_pid, status, started_at)
         VALUES (@id, @kind, @item, @itemHash, @chapter, @title, @inventory, @fingerprint, @profile, @targets, @params, @source, @user, @pid, 'running', @startedAt)`,
      )
      .run({ ...r, targets: JSON.stringify(r.targets), params: JSON.stringify(r.params), user: process.env.SUDO_USER ?? process.env.USER ?? userInfo().username, pid: process.pid, startedAt: new Date().toISOString() });
  }

  private insertHosts(runId: string, role: string, result: RunResult) {
    const ins = this.db.prepare(
      `INSERT OR REPLACE INTO host_results (run_id, role, host, address, verdict, exit_code, attempts, duration_ms, message, output) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const h of result.hosts) ins.run(runId, role, h.host, h.address, h.verdict, h.exitCode ?? null, h.attempts, h.durationMs, h.message, h.output);
  }

  finishStep(runId: string, result: RunResult): void {
    this.db.transaction(() => {
      this.insertHosts(runId, '', result);
      this.db.prepare(`UPDATE runs SET status = 'done', verdict = ?, message = ?, finished_at = ?, duration_ms = ? WHERE id = ?`).run(result.verdict, result.message, new Date().toISOString(), result.durationMs, runId);
    })();
  }

  finishDrill(runId: string, result: DrillResult): void {
    this.db.transaction(() => {
      for (const role of ['break', 'verify', 'recover'] as const) {
        const r = result.steps[role];
        if (r) this.insertHosts(runId, role, r);
      }
      this.db.prepare(`INSERT OR REPLACE INTO drill_results (run_id, figures, phases, samples) VALUES (?, ?, ?, ?)`).run(runId, JSON.stringify(result.figures), JSON.stringify(result.phases), JSON.stringify(result.samples));
      this.db.prepare(`UPDATE runs SET status = 'done', verdict = ?, message = ?, finished_at = ?, duration_ms = ? WHERE id = ?`).run(result.verdict, result.message, new Date().toISOString(), result.durationMs, runId);
    })();
  }

  /** A run that failed before it produced a result (refused, bad values). */
  fail(runId: string, message: string): void {
    this.db.prepare(`UPDATE runs SET status = 'done', verdict = 'failed', message = ?, finished_at = ? WHERE id = ?`).run(message, new Date().toISOString(), runId);
  }

  list(filter: { chapter?: string; inventory?: string; limit?: number } = {}): RunRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.chapter) {
      where.push('chapter = ?');
      args.push(filter.chapter);
    }
    if (filter.inventory) {
      where.push('inventory = ?');
      args.push(filter.inventory);
    }
    args.push(filter.limit ?? 50);
    return this.db.prepare(`SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, rowid DESC LIMIT ?`).all(...args) as RunRow[];
  }

  get(id: string): { run: RunRow; hosts: HostRow[]; drill?: { figures: unknown; phases: unknown; samples: unknown } } | undefined {
    const run = (this.db.prepare(`SELECT * FROM runs WHERE id = ?`).get(id) ?? this.db.prepare(`SELECT * FROM runs WHERE id LIKE ? ORDER BY started_at DESC`).get(`${id}%`)) as RunRow | undefined;
    if (!run) return undefined;
    const hosts = this.db.prepare(`SELECT * FROM host_results WHERE run_id = ? ORDER BY role, rowid`).all(run.id) as HostRow[];
    const d = this.db.prepare(`SELECT figures, phases, samples FROM drill_results WHERE run_id = ?`).get(run.id) as { figures: string; phases: string; samples: string } | undefined;
    return { run, hosts, drill: d ? { figures: JSON.parse(d.figures), phases: JSON.parse(d.phases), samples: JSON.parse(d.samples) } : undefined };
  }

  /** The latest finished verdict of every step and drill on one target (by inventory fingerprint). */
  progress(fingerprint: string): Record<string, { verdict: string; at: string; runId: string }> {
    const rows = this.db
      .prepare(
        `SELECT item, verdict, finished_at AS at, id FROM runs r
         WHERE fingerprint = ? AND status != 'running'
           AND started_at = (SELECT MAX(started_at) FROM runs x WHERE x.fingerprint = r.fingerprint AND x.item = r.item AND x.status != 'running')`,
      )
      .all(fingerprint) as { item: string; verdict: string; at: string; id: string }[];
    return Object.fromEntries(rows.map((r) => [r.item, { verdict: r.verdict, at: r.at, runId: r.id }]));
  }

  /** The last finished run of a drill, as the page shows it (times relative to the fault). */
  lastDrill(item: string): Pick<DrillResult, 'runId' | 'verdict' | 'message' | 'startedAt' | 'durationMs' | 'figures' | 'phases' | 'samples' | 'inventory'> & { drill: { globalId: string; title: string; hash: string } } | undefined {
    const row = this.db
      .prepare(`SELECT r.*, d.figures, d.phases, d.samples FROM runs r JOIN drill_results d ON d.run_id = r.id WHERE r.item = ? AND r.status = 'done' ORDER BY r.started_at DESC LIMIT 1`)
      .get(item) as (RunRow & { figures: string; phases: string; samples: string }) | undefined;
    if (!row) return undefined;
    return {
      runId: row.id,
      drill: { globalId: row.item, title: row.title, hash: row.item_hash },
      inventory: row.inventory,
      verdict: row.verdict as DrillResult['verdict'],
      message: row.message ?? '',
      startedAt: row.started_at,
      durationMs: row.duration_ms ?? 0,
      figures: JSON.parse(row.figures),
      phases: JSON.parse(row.phases),
      samples: JSON.parse(row.samples),
    };
  }

  close(): void {
    this.db.close();
  }
}
