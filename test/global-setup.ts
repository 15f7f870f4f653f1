/** Once per test run: a private state dir, and the unprivileged SSH test user. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTestUser } from './fixtures/sshd.ts';

export default function setup() {
  if (process.getuid?.() === 0) ensureTestUser();
  // A developer may point the lab tests at an existing state dir and lab
  // (DRILLBOOK_STATE_DIR + DRILLBOOK_TEST_LAB); otherwise a private one.
  if (process.env.DRILLBOOK_STATE_DIR) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drillbook-test-state-'));
  process.env.DRILLBOOK_STATE_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
