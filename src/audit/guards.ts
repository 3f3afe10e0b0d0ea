/**
 * The store's input checks and error mapping (used by core.ts and group-commit.ts): a driver's error
 * becomes TNP_ERR_AUDIT_UNAVAILABLE (503, retry), a bad argument TNP_ERR_AUDIT_RECORD_INVALID.
 */
import { TnpError } from '../errors.js';
import type { PendingJti } from './batch.js';
import type { LabOutbox, LabReads } from './lab/types.js';
import { isStorableText } from './record.js';

export function unavailable(what: string, e: unknown): TnpError {
  if (e instanceof TnpError) return e;
  return new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store cannot ${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/**
 * The laboratory reads and outbox as callers see them: a driver's error (a lost connection, a timeout) is
 * TNP_ERR_AUDIT_UNAVAILABLE (503, retry), like the store's own reads, never an internal error.
 */
export function guardLab(lab: LabReads & LabOutbox): LabReads & LabOutbox {
  return new Proxy(lab, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]): unknown => {
        const out: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
        return out instanceof Promise ? out.catch((e: unknown) => Promise.reject(unavailable('be read', e))) : out;
      };
    },
  });
}

export function checkJti(what: string, iss: string, jti: string, expiresAt: Date): PendingJti {
  if (!isStorableText(iss)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `${what}: iss must be a non-empty string (no NUL, well-formed Unicode)`, { expression: ['iss'] });
  if (!isStorableText(jti)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `${what}: jti must be a non-empty string (no NUL, well-formed Unicode)`, { expression: ['jti'] });
  const expiresAtMs = expiresAt instanceof Date ? expiresAt.getTime() : Number.NaN;
  if (!Number.isFinite(expiresAtMs)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `${what}: expiresAt must be a valid Date`, { expression: ['expiresAt'] });
  return { iss, jti, expiresAtMs };
}
