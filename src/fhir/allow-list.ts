/**
 * Which FHIR servers a CDS client may have this service fetch from, and how a FHIR server URL is
 * written into the audit trail.
 *
 * A CDS call names its `fhirServer`, and the service sends requests there with the call's access token
 * (CDS Hooks 2.0, "FHIR Resource Access"). Left open, any caller could point the service at any host:
 * loopback, the hospital's internal network, a cloud metadata address (server-side request forgery).
 * So each entry of `cdsClients` lists the FHIR server bases it may name (`fhirServers`), and a
 * `fhirServer` is used only when it is one of them or a path under one.
 *
 * Both sides are parsed and normalised by the WHATWG URL parser, the one `fetch` itself uses (the FHIR
 * client, fhir-kit-client, sends through Node's `fetch`), so what is compared is what would be
 * connected to: scheme; host (lower case, IDN as punycode, IPv4 written as 127.1, 0x7f.1, 2130706433 or
 * 0177.0.0.1 all become 127.0.0.1, IPv6 in its shortest form, a trailing dot removed); port (a default
 * port is no port); and the path, on segment boundaries (`/fhir` allows `/fhir` and `/fhir/...`, never
 * `/fhir-evil`), after dot segments are resolved. Backslashes, credentials, and percent-encoded dots,
 * slashes, backslashes or percent signs in the path (which a server might decode into a path the
 * parser did not see) are refused outright.
 */

/** A FHIR server base, normalised. */
export interface FhirBase {
  /** `scheme://host[:port]`: lower case, the host's trailing dot removed, no default port. */
  readonly origin: string;
  /** The path without trailing slashes (`''` for the root), dot segments resolved. */
  readonly path: string;
}

export type ParsedFhirUrl = { readonly ok: true; readonly url: URL; readonly base: FhirBase } | { readonly ok: false; readonly reason: string };

/** Percent-encoded `.`, `/`, `\` or `%`: a server decoding them could see a path the parser did not. */
const ENCODED_PATH_TRICK = /%(2e|2f|5c|25)/i;

/**
 * Why a URL as written (absolute or relative) is refused before it is even parsed: a backslash (which
 * the parser reads as a slash) or a percent-encoded dot, slash, backslash or percent sign before its
 * query; null when neither.
 */
export function urlTextProblem(text: string): string | null {
  if (text.includes('\\')) return 'contains a backslash';
  if (ENCODED_PATH_TRICK.test(text.split(/[?#]/, 1)[0] ?? '')) return 'has a percent-encoded ".", "/", "\\" or "%" in its path';
  return null;
}

/** Parses and normalises an http(s) URL naming a FHIR server (or a page on one). */
export function parseFhirUrl(text: string): ParsedFhirUrl {
  const problem = urlTextProblem(text);
  if (problem !== null) return { ok: false, reason: problem };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'is not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'is not an http(s) URL' };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'carries credentials (a user name or password)' };
  const host = url.hostname.replace(/\.$/, '');
  if (host === '') return { ok: false, reason: 'has no host' };
  return { ok: true, url, base: { origin: `${url.protocol}//${host}${url.port === '' ? '' : `:${url.port}`}`, path: url.pathname.replace(/\/+$/, '') } };
}

/** True when `candidate` is `base` or a path under it (same origin, path on a segment boundary). */
export function isUnderBase(base: FhirBase, candidate: FhirBase): boolean {
  return candidate.origin === base.origin && (candidate.path === base.path || candidate.path.startsWith(`${base.path}/`));
}

/** The URL of a base, e.g. `https://ehr.example/fhir`. */
export function baseHref(base: FhirBase): string {
  return `${base.origin}${base.path}`;
}

/**
 * Why a configured base (`cdsClients[].fhirServers[i]`) is unusable, or null when it is fine. A base
 * has no query and no fragment: it is a base.
 */
export function fhirBaseSettingProblem(text: string): string | null {
  const parsed = parseFhirUrl(text);
  if (!parsed.ok) return parsed.reason;
  if (parsed.url.search !== '' || parsed.url.hash !== '' || /[?#]/.test(text)) return 'has a query or a fragment (a FHIR base has neither)';
  if (/\/\.{1,2}(\/|$)/.test(text.replace(/^[a-z]+:\/\//i, ''))) return 'has "." or ".." path segments (write the base as it is meant)';
  return null;
}

/**
 * The base a call's `fhirServer` may be read from: the requested path under the listed base it falls
 * under (its query and fragment are not part of a base and are dropped), or why it may not be used.
 */
export function allowedFhirBase(fhirServer: string, allowed: readonly string[]): { readonly ok: true; readonly base: FhirBase } | { readonly ok: false; readonly reason: string } {
  const requested = parseFhirUrl(fhirServer);
  if (!requested.ok) return { ok: false, reason: `fhirServer ${requested.reason}, so it was not used` };
  for (const text of allowed) {
    const listed = parseFhirUrl(text);
    if (listed.ok && isUnderBase(listed.base, requested.base)) return { ok: true, base: requested.base };
  }
  const named = baseHref(requested.base);
  return {
    ok: false,
    reason:
      allowed.length === 0
        ? `fhirServer ${named} was not used: this CDS client may name no FHIR server (no fhirServers are listed for it in the settings)`
        : `fhirServer ${named} is not one of the FHIR servers this CDS client may name (cdsClients[].fhirServers), so it was not used`,
  };
}

/**
 * A FHIR server URL as the audit trail and the logs keep it: origin and path only. A query (which may
 * carry a token or a patient id), a fragment and credentials are left out.
 */
export function auditableFhirUrl(text: string | null | undefined): string | null {
  if (typeof text !== 'string') return null;
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:' ? `${url.origin}${url.pathname}` : `(a ${url.protocol} URL)`;
  } catch {
    return '(not a URL)';
  }
}
