/**
 * I-08: the backup of the SQLite audit store that docs/deployment.md gives (`sqlite3 <store> ".backup
 * '<file>'"`, online, while the service writes in WAL mode) is a complete, valid chain: every committed
 * record, `verify` ok, and the head remembered from `GET /audit/verify` found at its seq, as the page
 * says to check a restored copy. Real store, real sqlite3 command line, appends running during the backup.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditStore } from '../../src/audit/store.js';

const dir = mkdtempSync(join(tmpdir(), 'tnp-backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const deps = { newId: randomUUID, now: () => new Date('2026-03-06T15:20:00Z') };
const page = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8');

describe('I-08 backing up the SQLite audit store as docs/deployment.md says', () => {
  it('the page gives the online .backup command and the check of a restored copy', () => {
    expect(page).toContain('sqlite3 /var/lib/hs-troponin-cds/hs-troponin-cds.sqlite ".backup \'');
    expect(page).toContain('SELECT hash FROM audit_records WHERE seq = <records>');
  });

  it('a backup taken while records are appended holds a valid chain with every record committed before it', async () => {
    const file = join(dir, 'hs-troponin-cds.sqlite');
    const store = await openAuditStore({ kind: 'sqlite', path: file }, deps);
    try {
      for (let i = 0; i < 200; i++) await store.append({ kind: 'evaluation', at: '2026-03-06T15:20:00Z', patientId: `p-${i % 7}`, body: { outcome: 'consistent-with-mi', i } });
      const remembered = await store.verify();
      expect(remembered.ok).toBe(true);
      // Appends keep running while the backup is taken.
      const more = (async () => {
        for (let i = 0; i < 50; i++) await store.append({ kind: 'feedback', at: '2026-03-06T15:21:00Z', patientId: 'p-1', body: { outcome: 'accepted', i } });
      })();
      const copy = join(dir, 'backup.sqlite');
      execFileSync('sqlite3', [file, `.backup '${copy}'`]);
      await more;

      const seqHash = execFileSync('sqlite3', [copy, `SELECT hash FROM audit_records WHERE seq = ${remembered.records}`], { encoding: 'utf8' }).trim();
      expect(seqHash).toBe(remembered.head);
      const restored = await openAuditStore({ kind: 'sqlite', path: copy }, deps);
      try {
        const v = await restored.verify({ anchor: { seq: remembered.records, hash: remembered.head } });
        expect(v.ok).toBe(true);
        expect(v.records).toBeGreaterThanOrEqual(remembered.records);
        expect(v.records).toBeLessThanOrEqual(remembered.records + 50);
      } finally {
        await restored.close();
      }
    } finally {
      await store.close();
    }
  });
});
