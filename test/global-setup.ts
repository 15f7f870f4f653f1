/** Once per test run: a private state dir, and the unprivileged SSH test user. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTestUser } from './fixtures/sshd.ts';

export default function setup() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drillbook-test-state-'));
  process.env.DRILLBOOK_STATE_DIR = dir;
  if (process.getuid?.() === 0) ensureTestUser();
  return () => rmSync(dir, { recursive: true, force: true });
}
