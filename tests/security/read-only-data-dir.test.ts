/**
 * A data directory on a read-only file system (EROFS: a read-only mount, a container's read-only root):
 * the real process (`node dist/server.js`) with `dataDir` on a read-only tmpfs. Without a key there, the
 * case-link key cannot be made: the start stops (exit 1) with a message that names the directory, says it
 * is read-only, and gives the fixes (make it writable, point dataDir elsewhere, or set caseLinkKey); the
 * error code's own how-to-fix says the same. With a key already there, reading it is all the service needs:
 * it starts and /healthz is 200.
 *
 * Needs root (mount); elsewhere the suite is skipped with a warning (with CI=true it fails).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/errors.js';
import { serverProcess } from '../support/server-process.js';
import { requireService } from '../support/services.js';

function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), 'tnp-ro-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const runRo = requireService('a read-only mount (root)', canMount(), 'run as root where tmpfs can be mounted');

describe.runIf(runRo)('a data directory on a read-only file system (EROFS)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-ro-'));
  const kit = serverProcess(dir);
  const empty = join(dir, 'ro-empty');
  const keyed = join(dir, 'ro-keyed');

  beforeAll(() => {
    mkdirSync(empty);
    mkdirSync(keyed);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', empty]);
    // A directory that already holds its key, then made read-only.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', keyed]);
    writeFileSync(join(keyed, 'case-link.key'), `${'cd'.repeat(32)}\n`, { mode: 0o600 });
    execFileSync('mount', ['-o', 'remount,ro', keyed]);
  });

  afterAll(() => {
    for (const m of [empty, keyed]) {
      try {
        execFileSync('umount', [m]);
      } catch {
        // Not mounted.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('no key there: the start stops (exit 1) naming the directory, that it is read-only, and the fixes', async () => {
    const file = kit.settingsFile({ dataDir: empty, storage: { kind: 'sqlite', path: join(dir, 'store-1.sqlite') } });
    const run = kit.run(file);
    expect(await run.exited).toBe(1);
    const out = run.output();
    expect(out).toContain('TNP_ERR_CASE_LINK_KEY_UNUSABLE');
    expect(out).toContain(empty);
    expect(out).toMatch(/read-only/);
    expect(out).toMatch(/EROFS/);
    // The fixes, in the message and in the code's how-to-fix (docs/errors.md is the same registry).
    for (const text of [out, ERRORS.TNP_ERR_CASE_LINK_KEY_UNUSABLE.fix]) {
      expect(text).toMatch(/writable/);
      expect(text).toMatch(/dataDir/);
      expect(text).toMatch(/caseLinkKey/);
    }
  });

  it('the key already there: the service starts on the read-only directory and /healthz is 200', async () => {
    const file = kit.settingsFile({ dataDir: keyed, storage: { kind: 'sqlite', path: join(dir, 'store-2.sqlite') } });
    const server = await kit.start(file);
    try {
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      await kit.stop(server);
    }
  });
});
