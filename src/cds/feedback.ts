/**
 * CDS Hooks 2.0 "Feedback": each item its own audit record, linked to the card's evaluation record; an
 * exact repeat of an item (an EHR retry) appends nothing.
 *
 * @see {@link https://cds-hooks.hl7.org/2.0/#feedback | CDS Hooks 2.0, Feedback}
 */
import type { FastifyInstance } from 'fastify';
import type { AuditStore } from '../audit/store.js';
import { TnpError } from '../errors.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import type { CallGuards } from './call-guard.js';
import { plain } from './call-guard.js';
import { CdsUnauthorizedError } from './jwt.js';
import { clientOf } from './records.js';
import { feedbackRequestSchema } from './schemas.js';
import type { CdsFeedbackItem, CdsFeedbackRequest } from './types.js';
import { isObject } from '../util/guards.js';

type Json = Record<string, unknown>;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * The instant an `outcomeTimestamp` names, in one spelling: UTC, `Z`, and the fraction of the second as
 * written without its trailing zeros (none when it is zero). `2026-12-01T14:00:00Z`,
 * `2026-12-01T14:00:00.000Z` and `2026-12-01T15:00:00+01:00` are one instant, so one feedback record. Every
 * digit of the fraction is kept (an offset moves whole minutes only): two times that differ below the
 * millisecond are two instants, never merged by rounding. Text that names no instant (a 30 February, an
 * hour 24, a leap second; the request schema checks the shape only) is its own key, as written.
 */
export function outcomeInstant(text: string): string {
  const m = RFC3339.exec(text);
  if (m === null) return text;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const offsetMinutes = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  const valid = date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && h < 24 && mi < 60 && sec < 60 && Number(m[9] ?? 0) < 24 && Number(m[10] ?? 0) < 60;
  if (!valid) return text;
  date.setUTCHours(h, mi - offsetMinutes, sec, 0);
  const fraction = (m[7] ?? '').replace(/0+$/, '');
  return `${date.toISOString().slice(0, -5)}${fraction === '' ? '' : `.${fraction}`}Z`;
}

export function feedbackRoute(app: FastifyInstance, path: string, serviceId: string, store: AuditStore, guards: CallGuards): void {
  app.post<{ Body: CdsFeedbackRequest }>(path, { schema: { body: feedbackRequestSchema }, onRequest: guards.requireJwt(path) }, async (req, reply) => {
    const client = req.cdsClient;
    if (client === null) throw new CdsUnauthorizedError('no verified client');
    const items = req.body.feedback;
    // Check every item before writing any, so a bad batch writes nothing.
    const targets = await Promise.all(
      items.map(async (item: CdsFeedbackItem, i) => {
        const rec = await store.get(item.card);
        const recBody = rec === null ? null : rec.body;
        const recClient = isObject(recBody) && isObject(recBody['client']) ? recBody['client'] : null;
        if (rec === null || rec.kind !== 'evaluation' || recClient === null || recClient['iss'] !== client.iss) {
          throw new TnpError('TNP_ERR_CARD_UNKNOWN', `feedback[${i}].card names no card this service issued to this client`, { expression: [`feedback[${i}].card`] });
        }
        const cards = isObject(recBody) && Array.isArray(recBody['cards']) ? (recBody['cards'] as unknown[]) : [];
        const known = new Set(cards.flatMap((c) => (isObject(c) && Array.isArray(c['suggestionUuids']) ? (c['suggestionUuids'] as unknown[]) : [])));
        (item.acceptedSuggestions ?? []).forEach((s, j) => {
          if (!known.has(s.id)) throw new TnpError('TNP_ERR_REQUEST_INVALID', `feedback[${i}].acceptedSuggestions[${j}].id is not a suggestion of that card`, { expression: [`feedback[${i}].acceptedSuggestions[${j}].id`] });
        });
        return rec;
      }),
    );
    const at = new Date(req.receivedAtMs).toISOString();
    const written = await Promise.all(
      items.map(async (item, i) => {
        const target = targets[i];
        if (target === undefined) throw new TnpError('TNP_ERR_INTERNAL', 'feedback target lost');
        // The feedback as recorded; its digest is in the idempotency key, so an exact repeat (an EHR retry)
        // is one record and the same card and outcome with another reason, comment or time is a new one.
        // The digest takes the instant of outcomeTimestamp, not its spelling: the same time written with
        // another offset or with ".000" is a repeat. The record keeps the text as sent.
        const content = plain({
          service: serviceId,
          card: item.card,
          outcome: item.outcome,
          acceptedSuggestions: item.acceptedSuggestions ?? [],
          overrideReason: item.overrideReason ?? null,
          outcomeTimestamp: item.outcomeTimestamp,
        }) as Json;
        const rec = await guards.appendTimed({
          kind: 'feedback',
          at,
          patientId: target.patientId,
          linksTo: target.id,
          idempotencyKey: `feedback|${item.card}|${item.outcome}|${sha256Hex(canonicalJson({ ...content, outcomeTimestamp: outcomeInstant(item.outcomeTimestamp) }))}`,
          body: { ...content, client: clientOf(client) },
        });
        const isRepeat = rec.at !== at || (isObject(rec.body) && isObject(rec.body['client']) && rec.body['client']['jti'] !== client.jti);
        return { card: item.card, outcome: item.outcome, auditId: rec.id, repeat: isRepeat };
      }),
    );
    req.log.info({ event: 'feedback', items: written.length, repeats: written.filter((w) => w.repeat).length }, 'CDS feedback recorded');
    return reply.header('cache-control', 'no-store').send({ feedback: written });
  });
}
