/**
 * The one refusal of the CDS client JWT check: `TNP_ERR_UNAUTHORIZED` (HTTP 401, one fixed body), with the
 * reason for the logs only. Reasons never contain the token; values from the token are quoted short.
 */
import { TnpError } from '../errors.js';

/** `TNP_ERR_UNAUTHORIZED` with the reason for the logs. The message is generic on purpose. */
export class CdsUnauthorizedError extends TnpError {
  /** Why the token was refused: for logs only, never returned to the client. */
  readonly reason: string;

  constructor(reason: string, cause?: unknown) {
    super('TNP_ERR_UNAUTHORIZED', undefined, cause === undefined ? {} : { cause });
    this.name = 'CdsUnauthorizedError';
    this.reason = reason;
  }
}

export function refuse(reason: string, cause?: unknown): never {
  throw new CdsUnauthorizedError(reason, cause);
}

/** Quotes an attacker-controlled value for a log line: JSON-escaped and cut short (at `max` characters, default 80). */
export function quote(value: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** How much of a token's `aud` a refusal's log line shows: enough for a URL, bounded. */
export const AUD_LOG_MAX = 200;
