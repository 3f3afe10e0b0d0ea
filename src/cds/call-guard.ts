/**
 * The guards of the CDS routes: the client JWT (src/cds/jwt.ts), the service call's replay guard deferred
 * to its audit commit, and the timed audit append that commits the call's `jti` with its record.
 *
 * The service call's `jti` is checked when the call arrives (held by the store, or in flight in this
 * process: refused) and committed in the audit record's transaction (one durable commit per call). Every
 * answer of the route that did not commit it with a record commits it alone before it is sent, so no
 * answered token can be used again; a 503 (nothing written, no card) commits nothing.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { JtiReplayedError, type AuditRecord, type AuditRecordInput, type AuditStore } from '../audit/store.js';
import { TnpError, toOperationOutcome } from '../errors.js';
import { FHIR_JSON, publicError, UNAUTHORIZED_OUTCOME } from '../http/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Settings } from '../settings.js';
import { peerOf } from '../dev/local-peer.js';
import { CdsUnauthorizedError, replayGuardExpiry, type JwtVerifier, type VerifiedClient } from './jwt.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The CDS client whose JWT was verified for this request. */
    cdsClient: VerifiedClient | null;
    /** `hookInstance` of the CDS call (for logs), once the body is read. */
    hookInstance: string | null;
    /** When the request was received (epoch ms, from the injected clock): the evaluation time. */
    receivedAtMs: number;
    /**
     * The service call's verified `jti`, not yet durably remembered: it is committed with the call's audit
     * record (one transaction), or alone before any other answer is sent. Null once committed.
     */
    pendingJti: PendingJti | null;
  }
}

interface PendingJti {
  readonly iss: string;
  readonly jti: string;
  readonly expiresAt: Date;
  /** Key in the in-process set of jtis in flight. */
  readonly key: string;
}

export interface GuardOptions {
  readonly settings: Settings;
  readonly store: AuditStore;
  readonly verifier: JwtVerifier;
  readonly metrics: Metrics;
}

export interface CallGuards {
  /** CDS Hooks 2.0 "Trusting CDS Clients": `aud` is the exact URL of the endpoint, from publicBaseUrl. */
  readonly requireJwt: (path: string) => onRequestAsyncHookHandler;
  /** The service call's JWT check with the replay guard deferred to the audit commit. */
  readonly requireJwtDeferred: onRequestAsyncHookHandler;
  /** onSend of the service route: commits a jti no record committed (see the module's comment). */
  readonly commitPendingJti: (req: FastifyRequest, reply: FastifyReply, payload: unknown) => Promise<unknown>;
  /** onResponse / onRequestAbort of the service route: the jti is no longer in flight. */
  readonly releaseJti: (req: FastifyRequest) => Promise<void>;
  /**
   * Appends the record; with `req` holding a pending jti, in the same transaction as the jti (then a jti
   * taken meanwhile by another process is a 401 and nothing is written).
   */
  readonly appendTimed: (input: AuditRecordInput, req?: FastifyRequest) => Promise<AuditRecord>;
}

/** JSON round trip: the audit body holds plain JSON only (no undefined, no non-finite numbers). */
export function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

export function callGuards(path: string, opts: GuardOptions): CallGuards {
  const { settings, store, verifier, metrics } = opts;
  const refused = (req: FastifyRequest, reason: string, at: string): void => {
    metrics.jwtRefusals.inc();
    req.log.warn({ event: 'jwt-refused', reason, path: at }, 'CDS client JWT refused');
  };

  const requireJwt =
    (at: string): onRequestAsyncHookHandler =>
    async (req) => {
      try {
        req.cdsClient = await verifier.verify(req.headers.authorization, at, { peer: peerOf(req) });
      } catch (e) {
        if (e instanceof CdsUnauthorizedError) refused(req, e.reason, at);
        throw e;
      }
    };

  // A jti already held by the store, or in flight in this process, is refused here; one that another
  // process takes meanwhile is refused at the commit (the record is not written).
  const inFlight = new Set<string>();
  const requireJwtDeferred: onRequestAsyncHookHandler = async (req) => {
    let key: string | null = null;
    try {
      const client = await verifier.verify(req.headers.authorization, path, { deferReplayGuard: true, peer: peerOf(req) });
      const k = `${client.iss}\u0000${client.jti}`;
      if (inFlight.has(k)) throw new CdsUnauthorizedError(`JWT jti ${JSON.stringify(client.jti.slice(0, 80))} replayed (in flight in this process)`);
      inFlight.add(k);
      key = k;
      if (await store.isJtiHeld(client.iss, client.jti)) throw new CdsUnauthorizedError(`JWT jti ${JSON.stringify(client.jti.slice(0, 80))} replayed (iss ${JSON.stringify(client.iss)})`);
      req.cdsClient = client;
      req.pendingJti = { iss: client.iss, jti: client.jti, expiresAt: replayGuardExpiry(client, settings.jwtClockToleranceSeconds), key: k };
    } catch (e) {
      if (key !== null) inFlight.delete(key);
      if (e instanceof CdsUnauthorizedError) refused(req, e.reason, path);
      throw e;
    }
  };

  // When the store refuses the pair (another process took it), the answer becomes 401; when it cannot write, 503.
  const commitPendingJti = async (req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const pending = req.pendingJti;
    if (pending === null) return payload;
    req.pendingJti = null;
    try {
      if (reply.statusCode === 503) return payload;
      let fresh: boolean;
      try {
        fresh = await store.rememberJti(pending.iss, pending.jti, pending.expiresAt);
      } catch (e) {
        if (reply.statusCode >= 500) return payload;
        // Through the one mapping: a 500 body carries no internal message (the log has it).
        const { error, status } = publicError(e instanceof TnpError ? e : new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store cannot write'), req.log);
        reply.code(status).type(FHIR_JSON);
        return JSON.stringify(toOperationOutcome(error));
      }
      if (fresh || reply.statusCode >= 500) return payload;
      refused(req, `JWT jti replayed (iss ${JSON.stringify(pending.iss)}; taken while the call ran)`, path);
      reply.code(401).header('www-authenticate', 'Bearer').type(FHIR_JSON);
      return JSON.stringify(UNAUTHORIZED_OUTCOME);
    } finally {
      inFlight.delete(pending.key);
    }
  };

  const releaseJti = (req: FastifyRequest): Promise<void> => {
    if (req.pendingJti !== null) inFlight.delete(req.pendingJti.key);
    return Promise.resolve();
  };

  const appendTimed = async (input: AuditRecordInput, req?: FastifyRequest): Promise<AuditRecord> => {
    const pending = req?.pendingJti ?? null;
    const write = (i: AuditRecordInput): Promise<AuditRecord> => (pending === null ? store.append(i) : store.appendWithJti(i, pending.iss, pending.jti, pending.expiresAt));
    const end = metrics.auditWriteDuration.startTimer({ kind: input.kind });
    try {
      let rec: AuditRecord;
      try {
        rec = await write(input);
      } catch (e) {
        // A body the store refuses as not plain JSON (a non-finite number from the data, say): nothing was
        // written; store its JSON form instead (non-finite numbers become null, as JSON has them).
        if (!(e instanceof TnpError && e.code === 'TNP_ERR_AUDIT_RECORD_INVALID')) throw e;
        rec = await write({ ...input, body: plain(input.body) });
      }
      end();
      if (req !== undefined && pending !== null) {
        req.pendingJti = null;
        inFlight.delete(pending.key);
      }
      return rec;
    } catch (e) {
      if (e instanceof JtiReplayedError && req !== undefined && pending !== null) {
        req.pendingJti = null;
        inFlight.delete(pending.key);
        const refusal = new CdsUnauthorizedError(`JWT jti ${JSON.stringify(pending.jti.slice(0, 80))} replayed (iss ${JSON.stringify(pending.iss)}; taken while the call ran)`, e);
        refused(req, refusal.reason, path);
        throw refusal;
      }
      metrics.auditWriteFailures.inc({ kind: input.kind });
      throw e;
    }
  };

  return { requireJwt, requireJwtDeferred, commitPendingJti, releaseJti, appendTimed };
}
