/**
 * The laboratory part of the store, on both databases: an event commits its rows and its audit records
 * in one transaction on the chain; a failed precondition writes nothing; result versions are append-only;
 * an alert is claimed by one process at a time.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditStore, type AuditStore, type AuditStoreSettings, type EpisodeState, type LabEvent } from '../../src/audit/store.js';
import { postgresHarness, sqliteHarness, type AuditHarness } from '../support/audit-harness.js';
import { pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const AT = '2026-03-06T10:00:00.000Z';

function episode(id: string, patientKey: string, rev: number): EpisodeState {
  return {
    id, patientKey, patient: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: patientKey }, encounterId: null, status: 'open', closedReason: null,
    openedAt: AT, firstMs: 0, lastMs: 0, windowEndsMs: 10_000, outcome: 'needs-input', indicator: 'info', summary: 's', missing: [], baselineTime: null,
    retestDue: null, retestDueMs: 5_000, overdueFiredMs: null, retestOverdue: false, lastChangeAt: AT, rev, lastAuditId: null,
  };
}

function event(patientKey: string, expectedRev: number | null, resultId: string, key: string, auditId: string): LabEvent {
  return {
    patients: [{ key: patientKey, expectedRev }],
    newKeys: expectedRev === null ? [{ key, resultId }] : [],
    results: [{ id: resultId, patientKey, client: 'lab', episodeId: 'ep-1', currentVersion: 1, timeMs: 0, createdAt: AT, flagged: false }],
    versions: [{ resultId, version: expectedRev === null ? 1 : expectedRev + 1, lastUpdated: AT, status: 'final', contentSha: 'x', resource: '{}', flags: '[]', source: '{}', auditId }],
    patientLinks: [{ identifierKey: `id|${patientKey}`, patientKey }],
    episodes: [episode('ep-1', patientKey, (expectedRev ?? 0) + 1)],
    evaluations: [{ episodeId: 'ep-1', at: AT, trigger: 'lab-result', outcome: 'needs-input', auditId }],
    alerts: [{ id: randomUUID(), dedupeKey: `d|${expectedRev ?? 0}`, url: 'http://127.0.0.1:1/hook', episodeId: 'ep-1', event: 'outcome-changed', body: '{}', status: 'pending', attempts: 0, nextAttemptMs: 0, lastError: null, createdAt: AT, updatedAt: AT }],
    changes: [{ episodeId: 'ep-1', at: AT, row: '{}' }],
  };
}

const record = (id: string) => ({ id, input: { kind: 'evaluation' as const, at: AT, patientId: 'p', body: { trigger: 'lab-result' } } });

function suite(name: string, harness: AuditHarness): void {
  describe(`lab store on ${name}`, () => {
    afterAll(() => harness.cleanup());
    const open = (s: AuditStoreSettings): Promise<AuditStore> => openAuditStore(s, { newId: randomUUID, now: () => new Date(AT) });

    it('an event commits its rows and its records on the chain; a stale revision writes nothing', async () => {
      const store = await open(harness.fresh());
      try {
        const first = await store.commitEvent(event('943', null, 'r1', 'k1', 'a1'), [record('a1')]);
        expect(first.ok).toBe(true);
        const snap = await store.lab.snapshot({ keys: ['k1'], patientKeys: ['943'] });
        expect(snap.revs.get('943')).toBe(1);
        expect(snap.keys.get('k1')).toBe('r1');
        expect(snap.results.get('r1')?.versions.map((v) => v.version)).toEqual([1]);
        expect(snap.episodes.map((e) => e.id)).toEqual(['ep-1']);

        // Planned on revision 0 again (a lost update): refused, nothing of it written, not even its record.
        const stale = await store.commitEvent({ ...event('943', null, 'r2', 'k2', 'a2') }, [record('a2')]);
        expect(stale).toEqual({ ok: false, conflict: 'a patient of the event changed meanwhile' });
        // No patient identifier in the reason (it reaches logs and 503 bodies).
        expect(JSON.stringify(stale)).not.toContain('943');
        expect(await store.get('a2')).toBeNull();
        expect((await store.lab.snapshot({ keys: ['k2'], patientKeys: [] })).keys.size).toBe(0);

        const second = await store.commitEvent(event('943', 1, 'r1', 'k1', 'a3'), [record('a3')]);
        expect(second.ok).toBe(true);
        expect((await store.lab.result('r1'))?.versions.map((v) => v.version)).toEqual([2, 1]);
        expect((await store.lab.episode('ep-1', { limit: 10, after: null, versions: 10 }))?.evaluations.map((e) => e.seq)).toEqual([2, 1]);
        expect((await store.lab.changesAfter(0, 10)).map((c) => c.seq)).toEqual([1, 2]);
        expect(await store.lab.patientKeysFor(['id|943'])).toEqual(['943']);
        expect((await store.verify()).ok).toBe(true);
      } finally {
        await store.close();
      }
    });

    it('events racing for one patient in one batch: exactly one commits', async () => {
      const store = await open(harness.fresh());
      try {
        const outcomes = await Promise.all([0, 1, 2, 3].map((i) => store.commitEvent(event('p2', null, `r${i}`, `k${i}`, `b${i}`), [record(`b${i}`)])));
        expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
        expect((await store.verify()).records).toBe(1);
      } finally {
        await store.close();
      }
    });

    it('an alert is claimed once until its lease ends, then again; dead letters are kept and bounded', async () => {
      const store = await open(harness.fresh());
      try {
        await store.commitEvent(event('p3', null, 'r', 'k', 'c1'), [record('c1')]);
        const [a] = await store.lab.claimAlerts(100, 1000, 10);
        expect(a?.attempts).toBe(1);
        expect(await store.lab.claimAlerts(500, 1000, 10)).toEqual([]);
        expect((await store.lab.claimAlerts(1101, 1000, 10)).map((x) => x.attempts)).toEqual([2]);
        await store.lab.finishAlert(a!.id, { status: 'dead', nextAttemptMs: 0, error: 'HTTP 500', at: AT });
        expect((await store.lab.alerts({ status: 'dead', limit: 10 })).map((x) => x.lastError)).toEqual(['HTTP 500']);
        await store.lab.prune(0, 0);
        expect(await store.lab.countAlerts('dead')).toBe(0);
      } finally {
        await store.close();
      }
    });
  });
}

suite('SQLite', sqliteHarness());
describe.runIf(runPg)('PostgreSQL', () => suite('PostgreSQL', postgresHarness()));
