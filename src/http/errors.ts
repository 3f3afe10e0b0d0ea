/**
 * The one error handler of the HTTP app: every error becomes a FHIR OperationOutcome with the right
 * status, and nothing internal leaks.
 *
 * - TnpError: its status and `toOperationOutcome`.
 * - Authentication failures (JWT, admin, lab and worklist tokens): 401 with one fixed body and no detail (CDS Hooks best
 *   practice); the reason goes to the log only.
 * - fastify's own errors: body validation -> 400 naming the field; not JSON -> 400; wrong content type
 *   -> 415; too large -> 413.
 * - Anything else, and every error of status 500 (a TnpError included): 500 with a generic text and an
 *   incident id, never the error's own message; the error (code, message, stack) is logged under that id.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TnpError, toOperationOutcome, type OperationOutcome } from '../errors.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** The body of every 401: the same whatever the reason. */
export const UNAUTHORIZED_OUTCOME: OperationOutcome = Object.freeze({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'login', details: { text: 'Unauthorized' } }],
}) as OperationOutcome;

function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

interface ValidationItem {
  readonly instancePath?: string;
  readonly message?: string;
  readonly keyword?: string;
  readonly params?: Record<string, unknown>;
}

/** `body.context.patientId` from a validation error: the field a person would correct. */
function fieldOf(context: string, v: ValidationItem): string {
  const path = (v.instancePath ?? '')
    .split('/')
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('');
  const missing = v.keyword === 'required' && typeof v.params?.['missingProperty'] === 'string' ? `.${v.params['missingProperty']}` : '';
  const dependency = v.keyword === 'dependencies' && typeof v.params?.['missingProperty'] === 'string' ? `.${v.params['missingProperty']}` : '';
  return `${context}${path}${missing}${dependency}`;
}

/** The body of every 500: a generic text and the incident id under which the error is logged. */
function internalError(incidentId: () => string): TnpError {
  return new TnpError('TNP_ERR_INTERNAL', `internal error (incident ${incidentId()})`);
}

/**
 * Maps any error to the TnpError the client gets (plus the HTTP status when fastify's differs from the
 * code's). `internal` is true for every 500: the error returned is then the generic TNP_ERR_INTERNAL with
 * a new incident id, whatever the original said.
 */
export function classify(err: unknown, incidentId: () => string): { error: TnpError; status: number; internal: boolean } {
  if (err instanceof TnpError) {
    if (err.status >= 500 && err.status !== 503) return { error: internalError(incidentId), status: 500, internal: true };
    return { error: err, status: err.status, internal: false };
  }
  if (isFastifyError(err)) {
    const validation = (err as FastifyError & { validation?: readonly ValidationItem[]; validationContext?: string }).validation;
    if (Array.isArray(validation) && validation.length > 0) {
      const ctx = (err as { validationContext?: string }).validationContext ?? 'body';
      const fields = validation.map((v) => fieldOf(ctx, v));
      const texts = validation.map((v, i) => `${fields[i] ?? ctx} ${v.message ?? 'is invalid'}`);
      return { error: new TnpError('TNP_ERR_REQUEST_INVALID', `the request is invalid: ${texts.join('; ')}`, { expression: fields }), status: 400, internal: false };
    }
    switch (err.code) {
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return { error: new TnpError('TNP_ERR_UNSUPPORTED_MEDIA_TYPE', 'the request body must be JSON (Content-Type: application/json or application/fhir+json)'), status: 415, internal: false };
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return { error: new TnpError('TNP_ERR_PAYLOAD_TOO_LARGE'), status: 413, internal: false };
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return { error: new TnpError('TNP_ERR_INPUT_EMPTY', 'the request body is empty'), status: 400, internal: false };
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return { error: new TnpError('TNP_ERR_INPUT_NOT_JSON', 'the request body is not valid JSON'), status: 400, internal: false };
      default:
        break;
    }
    const status = err.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return { error: new TnpError('TNP_ERR_REQUEST_INVALID', `the request cannot be processed (${err.code})`), status, internal: false };
    }
  }
  // JSON.parse errors of the body parser (SyntaxError with statusCode 400), proto poisoning, etc.
  if (err instanceof SyntaxError) return { error: new TnpError('TNP_ERR_INPUT_NOT_JSON', 'the request body is not valid JSON'), status: 400, internal: false };
  const sc = err instanceof Error ? (err as { statusCode?: unknown }).statusCode : undefined;
  if (typeof sc === 'number' && sc >= 400 && sc < 500) {
    return { error: new TnpError('TNP_ERR_REQUEST_INVALID', 'the request body cannot be accepted'), status: sc, internal: false };
  }
  return { error: internalError(incidentId), status: 500, internal: true };
}

/**
 * What the client gets for `err`, the one way: classifies it and logs it (an internal error in full under
 * its incident id; a 503 with its code and message; any other refusal but 401 with its code).
 */
export function publicError(err: unknown, log: FastifyRequest['log']): { error: TnpError; status: number } {
  let incident = '';
  const { error, status, internal } = classify(err, () => (incident = randomUUID()));
  if (internal) log.error({ err, incident, code: err instanceof TnpError ? err.code : error.code }, 'internal error');
  else if (status === 503) log.error({ code: error.code, message: error.message }, 'service unavailable');
  else if (status !== 401) log.info({ code: error.code, status }, 'request refused');
  return { error, status };
}

export function sendError(reply: FastifyReply, err: TnpError, status: number): FastifyReply {
  if (err.status === 401) {
    return reply.code(401).header('www-authenticate', 'Bearer').type(FHIR_JSON).send(UNAUTHORIZED_OUTCOME);
  }
  return reply.code(status).type(FHIR_JSON).send(toOperationOutcome(err));
}

/** Installs the error and not-found handlers on the root instance. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { error, status } = publicError(err, req.log);
    return sendError(reply, error, status);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    return sendError(reply, new TnpError('TNP_ERR_NOT_FOUND', `no ${req.method} ${path.slice(0, 200)} here`), 404);
  });
}
