/**
 * The laboratory settings: parsed with the rest (unknown keys and bad values named), unique names, tokens
 * and sending facilities, known time zones, and notification outcomes the pathway gives.
 */
import { describe, expect, it } from 'vitest';
import { episodeRules } from '../../src/episodes/rules.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';

const lab = (extra: Record<string, unknown> = {}) => ({ name: 'main-lab', token: 'lab-token-0123456789abcdef', ...extra });

describe('laboratory settings', () => {
  it('defaults: no lab client, MLLP off, no worklist token, no notification', () => {
    const s = loadSettings({ object: {} });
    expect(s.labClients).toEqual([]);
    expect(s.hl7).toBeNull();
    expect(s.worklistTokens).toEqual([]);
    expect(s.notifications).toEqual([]);
    expect(loadSettings({ object: { hl7: { port: 2575 } } }).hl7).toEqual({ host: '127.0.0.1', port: 2575 });
  });

  it('refuses unknown keys, short tokens and secrets, bad URLs, naming the key', () => {
    expect(() => loadSettings({ object: { labClients: [lab({ facility: 'x' })] } })).toThrow(/labClients\[0\]\.facility/);
    expect(() => loadSettings({ object: { worklistTokens: ['short'] } })).toThrow(/worklistTokens\[0\]/);
    expect(() => loadSettings({ object: { notifications: [{ url: 'ftp://x', secret: 'webhook-secret-0123456789' }] } })).toThrow(/notifications\[0\]\.url/);
    expect(() => loadSettings({ object: { notifications: [{ url: 'https://x.example/h', secret: 'short' }] } })).toThrow(/notifications\[0\]\.secret/);
    expect(() => loadSettings({ object: { hl7: { host: '127.0.0.1' } } })).toThrow(/hl7/);
  });

  it('names, tokens and sending facilities belong to one lab client; time zones must be known', () => {
    expect(() => loadSettings({ object: { labClients: [lab(), lab({ token: 'another-token-0123456789' })] } })).toThrow(/labClients\[1\]\.name/);
    expect(() => loadSettings({ object: { labClients: [lab(), lab({ name: 'b' })] } })).toThrow(/labClients\[1\]\.token/);
    expect(() => loadSettings({ object: { labClients: [lab({ hl7Facilities: ['LAB^1^ISO'] }), lab({ name: 'b', token: 'another-token-0123456789', hl7Facilities: ['LAB^1^ISO'] })] } })).toThrow(/labClients\[1\]\.hl7Facilities/);
    expect(() => loadSettings({ object: { labClients: [lab({ hl7TimeZone: 'Mars/Olympus' })] } })).toThrow(/hl7TimeZone/);
  });

  it('notification outcomes come from the pathway file: a code it never gives stops the start; the default is its critical and warning outcomes', async () => {
    const s = loadSettings({ object: { notifications: [{ url: 'https://a.example/h', secret: 'webhook-secret-0123456789', outcomes: ['rule-in'] }] } });
    const rt = await loadRuntime(s);
    expect(() => episodeRules(rt, s.notifications)).toThrow(/notifications\[0\]\.outcomes\[0\]/);
    const d = episodeRules(rt, [{ url: 'https://a.example/h', secret: 'webhook-secret-0123456789' }]);
    expect([...(d.notifications[0]?.events ?? [])].sort()).toEqual(['acute-mi-pathway', 'consistent-with-mi', 'indeterminate', 'retest-overdue']);
    expect(d.windowMs).toBe(24 * 3_600_000);
    expect(d.isFinal({ outcome: 'consistent-with-mi', retestDue: undefined })).toBe(true);
    expect(d.isFinal({ outcome: 'consistent-with-mi', retestDue: '2026-03-06T13:00:00Z' })).toBe(false);
    expect(d.isFinal({ outcome: 'needs-input', retestDue: undefined })).toBe(false);
  });
});
