/**
 * Matching a call's fhirServer against the bases a client may name (src/fhir/allow-list.ts), and the
 * form in which a FHIR server URL is audited. The end-to-end proof (real sockets, no connection made)
 * is tests/security/fhir-server-allow-list.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { allowedFhirBase, auditableFhirUrl, fhirBaseSettingProblem } from '../../src/fhir/allow-list.js';

const allowedAs = (requested: string, listed: readonly string[]): string | null => {
  const r = allowedFhirBase(requested, listed);
  return r.ok ? `${r.base.origin}${r.base.path}` : null;
};

describe('allowedFhirBase', () => {
  it.each([
    ['the base itself', 'https://ehr.example/fhir', 'https://ehr.example/fhir'],
    ['with a trailing slash', 'https://ehr.example/fhir/', 'https://ehr.example/fhir'],
    ['a path under it', 'https://ehr.example/fhir/tenant/1', 'https://ehr.example/fhir/tenant/1'],
    ['upper-case scheme and host', 'HTTPS://EHR.Example/fhir', 'https://ehr.example/fhir'],
    ['the default port written out', 'https://ehr.example:443/fhir', 'https://ehr.example/fhir'],
    ['a trailing dot on the host', 'https://ehr.example./fhir', 'https://ehr.example/fhir'],
    ['a query and a fragment (dropped)', 'https://ehr.example/fhir?x=1#y', 'https://ehr.example/fhir'],
    ['dot segments that stay under the base', 'https://ehr.example/fhir/a/../b', 'https://ehr.example/fhir/b'],
  ])('allows %s', (_what, requested, expected) => {
    expect(allowedAs(requested, ['https://ehr.example/fhir'])).toBe(expected);
  });

  it('compares hosts as the URL parser normalises them: IDN, IPv4 and IPv6 spellings', () => {
    expect(allowedAs('https://BÜCHER.example/fhir', ['https://xn--bcher-kva.example/fhir'])).toBe('https://xn--bcher-kva.example/fhir');
    expect(allowedAs('https://xn--bcher-kva.example/fhir', ['https://bücher.example/fhir'])).not.toBeNull();
    for (const v4 of ['http://10.1.2.3/fhir', 'http://10.1.515/fhir', 'http://0xa.1.2.3/fhir', 'http://167838211/fhir', 'http://012.1.2.3/fhir']) {
      expect(allowedAs(v4, ['http://10.1.2.3/fhir']), v4).toBe('http://10.1.2.3/fhir');
    }
    for (const v6 of ['http://[fd00:0:0:0:0:0:0:1]/fhir', 'http://[FD00::1]/fhir', 'http://[fd00::0001]/fhir']) {
      expect(allowedAs(v6, ['http://[fd00::1]/fhir']), v6).toBe('http://[fd00::1]/fhir');
    }
  });

  it.each([
    ['a look-alike path', 'https://ehr.example/fhir-evil'],
    ['a path that leaves the base', 'https://ehr.example/fhir/../admin'],
    ['an encoded dot segment', 'https://ehr.example/fhir/%2e%2e/admin'],
    ['an encoded slash', 'https://ehr.example/fhir/..%2Fadmin'],
    ['an encoded percent sign', 'https://ehr.example/fhir/%252e%252e/admin'],
    ['a backslash', 'https://ehr.example/fhir\\..\\admin'],
    ['another scheme', 'http://ehr.example/fhir'],
    ['another port', 'https://ehr.example:8443/fhir'],
    ['another host', 'https://ehr.example.evil/fhir'],
    ['a sub-domain', 'https://x.ehr.example/fhir'],
    ['credentials', 'https://u:p@ehr.example/fhir'],
    ['a user name only', 'https://u@ehr.example/fhir'],
    ['a path above the base', 'https://ehr.example/'],
    ['another case of the path', 'https://ehr.example/FHIR'],
    ['not a URL', 'ehr.example/fhir'],
  ])('refuses %s', (_what, requested) => {
    expect(allowedAs(requested, ['https://ehr.example/fhir'])).toBeNull();
  });

  it('refuses everything when nothing is listed, and says so', () => {
    const r = allowedFhirBase('https://ehr.example/fhir', []);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(/may name no FHIR server/);
  });

  it('a root base allows every path of its origin only', () => {
    expect(allowedAs('https://ehr.example/any/path', ['https://ehr.example/'])).toBe('https://ehr.example/any/path');
    expect(allowedAs('https://ehr.example.org/fhir', ['https://ehr.example/'])).toBeNull();
  });
});

describe('fhirBaseSettingProblem', () => {
  it('accepts plain bases and names what is wrong with others', () => {
    expect(fhirBaseSettingProblem('https://ehr.example/fhir')).toBeNull();
    expect(fhirBaseSettingProblem('http://127.0.0.1:8081/')).toBeNull();
    expect(fhirBaseSettingProblem('https://ehr.example/fhir?x=1')).toMatch(/query/);
    expect(fhirBaseSettingProblem('https://ehr.example/fhir/../admin')).toMatch(/"\.\."/);
    expect(fhirBaseSettingProblem('https://u:p@ehr.example/fhir')).toMatch(/credentials/);
  });
});

describe('auditableFhirUrl', () => {
  it('keeps origin and path only', () => {
    expect(auditableFhirUrl('https://u:p@EHR.example:443/fhir/?access_token=x#frag')).toBe('https://ehr.example/fhir/');
    expect(auditableFhirUrl('not a url')).toBe('(not a URL)');
    expect(auditableFhirUrl(undefined)).toBeNull();
  });
});
