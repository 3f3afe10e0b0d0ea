/**
 * The key that signs card links to the console (HMAC-SHA256, src/cds/case-link-codec.ts).
 *
 * - `caseLinkKey` in the settings (32 characters or more): used as it is. Every process that shares a
 *   load balancer needs the same one, so that each verifies the links the others made.
 * - Otherwise `<dataDir>/case-link.key`: 32 random bytes in hexadecimal, made at the first start with
 *   mode 0600 and kept, so links stay verifiable across restarts. It is created atomically (written to
 *   a temporary file, then linked into place), so two processes starting together agree on one key.
 *
 * A key file that others may read or that does not hold a key stops the start
 * (TNP_ERR_CASE_LINK_KEY_UNUSABLE): a key others can read lets them make links the console calls
 * genuine.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TnpError } from '../errors.js';

export const CASE_LINK_KEY_FILE = 'case-link.key';

function unusable(path: string, why: string): TnpError {
  return new TnpError('TNP_ERR_CASE_LINK_KEY_UNUSABLE', `the case-link key file ${path} ${why}`);
}

function readKeyFile(path: string): Buffer {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) throw unusable(path, `is readable or writable by other users (mode ${mode.toString(8)}): chmod 600 it`);
  const text = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw unusable(path, 'does not hold a key (64 hexadecimal characters)');
  return Buffer.from(text, 'hex');
}

function isCode(e: unknown, code: string): boolean {
  return e instanceof Error && (e as NodeJS.ErrnoException).code === code;
}

/** Why a directory could not be written, for people: the read-only and permission cases said plainly. */
function whyNotWritable(e: unknown): string {
  if (isCode(e, 'EROFS')) return 'it is on a read-only file system (EROFS)';
  if (isCode(e, 'EACCES') || isCode(e, 'EPERM')) return `the service's user may not write there (${(e as NodeJS.ErrnoException).code ?? ''})`;
  if (isCode(e, 'ENOSPC')) return 'the disk is full (ENOSPC)';
  return e instanceof Error ? e.message : String(e);
}

/** The signing key: from the settings, or the data directory's key file (made when absent). */
export function loadCaseLinkKey(settings: { readonly caseLinkKey: string | null; readonly dataDir: string }): Buffer {
  if (settings.caseLinkKey !== null) return Buffer.from(settings.caseLinkKey, 'utf8');
  const dir = resolve(settings.dataDir);
  const path = join(dir, CASE_LINK_KEY_FILE);
  try {
    return readKeyFile(path);
  } catch (e) {
    if (!isCode(e, 'ENOENT')) throw e instanceof TnpError ? e : unusable(path, `cannot be read: ${(e as Error).message}`);
  }
  const tmp = join(dir, `.${CASE_LINK_KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, path);
    } catch (e) {
      // Another process made it first: use theirs.
      if (!isCode(e, 'EEXIST')) throw e;
    }
  } catch (e) {
    throw unusable(path, `cannot be created in the data directory ${dir}: ${whyNotWritable(e)}. Make ${dir} writable by the service's user, set dataDir in the settings to a writable directory, or set caseLinkKey in the settings (the same on every process of the site)`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Not written, or already gone.
    }
  }
  return readKeyFile(path);
}
