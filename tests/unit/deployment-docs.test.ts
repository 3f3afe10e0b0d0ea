/**
 * docs/deployment.md and its files cannot drift from the product: the settings files and every JSON
 * block of the page are valid site settings (the service's own schema and checks), and the systemd unit,
 * the nginx proxy and the settings agree (the port, the host of publicBaseUrl, the state directory and
 * the store path, the body limit, the stop that lets the service finish its requests, no capability).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/app.js';
import { loadSettings, type Settings } from '../../src/settings.js';

const read = (p: string): string => readFileSync(new URL(`../../docs/${p}`, import.meta.url), 'utf8');
const page = read('deployment.md');
const unit = read('deployment/hs-troponin-cds.service');
const nginx = read('deployment/nginx.conf');

/** The settings files the page links. */
const settingsFiles = [...page.matchAll(/\(deployment\/(settings[a-z-]*\.json)\)/g)].map((m) => m[1] ?? '');

/** `Key=value` lines of the [Service] section (a key given twice keeps every value). */
function serviceSection(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const body = text.split(/^\[Service\]$/m)[1]?.split(/^\[/m)[0] ?? '';
  for (const line of body.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) out.set(m[1], [...(out.get(m[1]) ?? []), m[2] ?? '']);
  }
  return out;
}

const svc = serviceSection(unit);
const one = (k: string): string | undefined => svc.get(k)?.[0];
const env = Object.fromEntries((svc.get('Environment') ?? []).map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));

describe('docs/deployment.md and docs/deployment/', () => {
  it('links the settings files, the unit and the proxy', () => {
    expect(settingsFiles.sort()).toEqual(['settings-postgres.json', 'settings.json']);
    expect(page).toContain('(deployment/hs-troponin-cds.service)');
    expect(page).toContain('(deployment/nginx.conf)');
  });

  it('every settings file and every JSON block of the page is valid site settings', () => {
    const blocks = [...page.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    expect(blocks.length).toBeGreaterThan(0);
    for (const text of [...settingsFiles.map((f) => read(`deployment/${f}`)), ...blocks]) {
      expect(() => loadSettings({ object: JSON.parse(text) as unknown }), text.slice(0, 80)).not.toThrow();
    }
  });

  it('the unit starts npm start\'s entry point with the settings file, on loopback, as an unprivileged user', () => {
    expect(one('ExecStart')).toMatch(/^\/usr\/bin\/node \/opt\/hs-troponin-cds\/dist\/server\.js$/);
    expect(env['HS_TROPONIN_CDS_SETTINGS']).toBe('/etc/hs-troponin-cds/settings.json');
    expect(env['HOST']).toBe('127.0.0.1');
    expect(one('User')).toBe('hs-troponin-cds');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('ProtectSystem')).toBe('strict');
    // V8's JIT needs writable executable memory: this option would stop node.
    expect(svc.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('stopping lets the service finish: SIGTERM to the primary only, and longer than its own 15 s limit', () => {
    expect(one('KillMode')).toBe('mixed');
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(15);
  });

  it('the unit, the settings and the proxy agree: state directory and store, port, public host, body limit', () => {
    const s: Settings = loadSettings({ object: JSON.parse(read('deployment/settings.json')) as unknown, env });
    const state = `/var/lib/${one('StateDirectory') ?? ''}`;
    expect(one('WorkingDirectory')).toBe(state);
    expect(s.dataDir).toBe(state);
    expect(s.storage.kind === 'sqlite' && s.storage.path.startsWith(`${state}/`)).toBe(true);
    expect(nginx).toContain(`server 127.0.0.1:${s.port};`);
    expect(s.port).toBe(Number(env['PORT']));
    const host = new URL(s.publicBaseUrl).hostname;
    expect(new URL(s.publicBaseUrl).protocol).toBe('https:');
    expect([...nginx.matchAll(/server_name ([^;]+);/g)].map((m) => m[1])).toEqual([host, host]);
    const limit = /client_max_body_size (\d+)m;/.exec(nginx);
    expect(Number(limit?.[1]) * 1024 * 1024).toBeGreaterThanOrEqual(MAX_BODY_BYTES);
    // The proxy is believed for the client's address only when listed.
    expect(s.trustedProxies).toContain('127.0.0.1');
    expect(nginx).toMatch(/location = \/episodes\/stream \{[^}]*proxy_buffering off;/);
  });
});
