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
          idempotencyKey: `feedback|${item.card}|${item.outcome}|${sha256Hex(canonicalJson(content))}`,
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
