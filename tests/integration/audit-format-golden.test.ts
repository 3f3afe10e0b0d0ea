/**
 * The audit format, frozen: records written by the code of commit b6c11d0 (tests/golden/audit-format-v1.json)
 * must be reproduced byte for byte by today's code (the canonical body text, every hash, every link, and
 * the digest of every input resource), and a store holding them must still verify, over HTTP too, after
 * today's code appends behind them. A change to the format must bump its version, not change these bytes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { planAppends } from '../../src/audit/batch.js';
import { ChainVerifier } from '../../src/audit/chain.js';
import { resourceDigest } from '../../src/audit/input-digests.js';
import { normaliseInput, type AuditRow } from '../../src/audit/record.js';
import { openAuditStore } from '../../src/audit/store.js';
import { goldenInputs, goldenResources } from '../golden/audit-inputs.js';
import { ADMIN_TOKEN, startApp } from '../support/cds-app.js';
import { sqliteHarness } from '../support/audit-harness.js';

interface Golden {
  readonly formatVersion: number;
  readonly digests: unknown[];
  readonly rows: AuditRow[];
}
const GOLDEN = JSON.parse(readFileSync(fileURLToPath(new URL('../golden/audit-format-v1.json', import.meta.url)), 'utf8')) as Golden;

describe('the audit format, frozen with golden records', () => {
  const harness = sqliteHarness();
  afterAll(() => harness.cleanup());

  it('today\'s code writes the same bytes and hashes as the frozen records', () => {
    const plan = planAppends(goldenInputs().map((i) => ({ id: i.id, input: normaliseInput(i) })), { head: undefined, byIdempotencyKey: new Map(), existingIds: new Set() });
    expect(plan.rows).toHaveLength(GOLDEN.rows.length);
    plan.rows.forEach((row, i) => expect(row).toEqual(GOLDEN.rows[i]));
    plan.outcomes.forEach((o, i) => {
      if (!o.ok) throw o.error;
      expect(o.record.hash).toBe(GOLDEN.rows[i]?.hash);
      expect(o.record.body).toEqual(JSON.parse(GOLDEN.rows[i]?.body ?? 'null'));
    });
  });

  it('every input resource gets the same digest (sha256 of its canonical JSON) as before', () => {
    expect(goldenResources().map(resourceDigest)).toEqual(GOLDEN.digests);
  });

  it('the frozen rows verify as a chain', () => {
    const v = new ChainVerifier();
    for (const row of GOLDEN.rows) v.push(row);
    expect(v.finish()).toMatchObject({ ok: true, records: GOLDEN.rows.length });
  });

  it('a store holding the frozen records verifies after today\'s code appends behind them (GET /audit/verify ok)', async () => {
    const storage = harness.fresh();
    if (storage.kind !== 'sqlite') throw new Error('sqlite');
    const now = (): Date => new Date();
    const first = await openAuditStore(storage, { newId: randomUUID, now });
    await first.close();
    const db = new Database(storage.path);
    try {
      const insert = db.prepare('INSERT INTO audit_records (seq, id, kind, at, patient_id, links_to, idempotency_key, body, prev_hash, hash) VALUES (@seq, @id, @kind, @at, @patient_id, @links_to, @idempotency_key, @body, @prev_hash, @hash)');
      db.transaction(() => GOLDEN.rows.forEach((r) => insert.run(r)))();
    } finally {
      db.close();
    }
    const app = await startApp({ storage });
    try {
      const rec = await app.store.append({ kind: 'evaluation', at: now().toISOString(), patientId: 'patient-1', body: goldenInputs()[0]?.body });
      expect(rec.seq).toBe(GOLDEN.rows.length + 1);
      expect(rec.prevHash).toBe(GOLDEN.rows[GOLDEN.rows.length - 1]?.hash);
      const get = (path: string) => fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const verify = (await (await get('/audit/verify')).json()) as { ok: boolean; records: number };
      expect(verify).toMatchObject({ ok: true, records: GOLDEN.rows.length + 1 });
      const golden1 = await get('/audit/golden-0001');
      expect(golden1.status).toBe(200);
      expect(((await golden1.json()) as { integrity: { ok: boolean } }).integrity.ok).toBe(true);
    } finally {
      await app.close();
    }
  });
});
