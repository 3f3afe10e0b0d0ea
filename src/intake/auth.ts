/**
 * Bearer tokens of the lab clients (FHIR intake) and of the worklist readers, compared in constant time
 * over every token (as the admin tokens are, src/http/admin.ts). A failure is 401 with no detail.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export interface TokenTable<T> {
  /** The entry whose token the `Authorization: Bearer` header carries, or null. */
  match(header: string | undefined): T | null;
}

export function tokenTable<T>(entries: readonly { readonly token: string; readonly value: T }[]): TokenTable<T> {
  const table = entries.map((e) => ({ d: digest(e.token), value: e.value }));
  return {
    match(header) {
      if (typeof header !== 'string') return null;
      const m = /^Bearer +(\S+)\s*$/i.exec(header);
      if (m?.[1] === undefined) return null;
      const given = digest(m[1]);
      let found: T | null = null;
      for (const e of table) if (timingSafeEqual(given, e.d) && found === null) found = e.value;
      return found;
    },
  };
}
