/**
 * The one error registry's data, with src/error-registry-requests.ts: every error the product raises on
 * purpose has a stable code, an HTTP status, a FHIR issue type, a title and a "how to fix" line.
 * `docs/errors.md` lists the same codes (tests/unit/errors.test.ts fails when the two drift). Turning an
 * error into an answer is src/errors.ts's job (`toOperationOutcome`), and nowhere else's.
 *
 * This file: settings, pathways and the catalogue, input, the audit store, CDS authorisation, the FHIR
 * pull, the console and rate limits. The other: requests, reports, lab intake, the worklist and the CLI.
 */
import { REQUEST_ERRORS } from './error-registry-requests.js';

export interface ErrorDefinition {
  /** HTTP status when the error reaches a client. */
  readonly status: number;
  /** FHIR OperationOutcome.issue.code (R4 IssueType). */
  readonly issueCode: string;
  /** What went wrong, for people. */
  readonly title: string;
  /** How to fix it, for people. */
  readonly fix: string;
}

const SERVICE_ERRORS = {
  TNP_ERR_SETTINGS_INVALID: {
    status: 500,
    issueCode: 'invalid',
    title: 'The site settings are invalid',
    fix: 'Correct the key named in the message in the file named by HS_TROPONIN_CDS_SETTINGS (see README, "Settings").',
  },
  TNP_ERR_SETTINGS_UNREADABLE: {
    status: 500,
    issueCode: 'invalid',
    title: 'The site settings file cannot be read or is not JSON',
    fix: 'Check the path in HS_TROPONIN_CDS_SETTINGS (or --settings) and that the file is valid JSON.',
  },
  TNP_ERR_PATHWAY_INVALID: {
    status: 500,
    issueCode: 'invalid',
    title: 'A pathway file is invalid',
    fix: 'Correct the field named in the message; pathway files are validated against pathways/pathway.schema.json.',
  },
  TNP_ERR_CATALOGUE_INVALID: {
    status: 500,
    issueCode: 'invalid',
    title: 'The assay catalogue is invalid',
    fix: 'Correct the field named in the message; the catalogue is validated against pathways/assays.schema.json.',
  },
  TNP_ERR_PATHWAY_NOT_TOTAL: {
    status: 500,
    issueCode: 'exception',
    title: 'The pathway has no single branch for these facts',
    fix: 'The pathway file leaves a combination of facts with no branch, or with several; fix its conditions. This is a defect: report it.',
  },
  TNP_ERR_PATHWAY_UNKNOWN: {
    status: 400,
    issueCode: 'not-found',
    title: 'No pathway has that id',
    fix: 'Use one of the pathway ids listed in pathways/ (for example "chart2").',
  },
  TNP_ERR_INPUT_NOT_JSON: {
    status: 400,
    issueCode: 'structure',
    title: 'The input is not JSON',
    fix: 'Send a JSON document: a FHIR Bundle, a FHIR resource or a JSON array of resources.',
  },
  TNP_ERR_INPUT_EMPTY: {
    status: 400,
    issueCode: 'required',
    title: 'The input is empty',
    fix: 'Send at least one FHIR resource.',
  },
  TNP_ERR_INPUT_NOT_FHIR: {
    status: 400,
    issueCode: 'structure',
    title: 'The input is not FHIR',
    fix: 'Send a FHIR R4 Bundle, a FHIR resource, or a JSON array of FHIR resources (each an object with a resourceType).',
  },
  TNP_ERR_INPUT_MORE_THAN_ONE_PATIENT: {
    status: 400,
    issueCode: 'business-rule',
    title: 'The resources are about more than one patient',
    fix: 'A case is one patient\'s: send only the Observations whose subject is that patient (the message names the patients found) and that patient\'s Patient, or the Observations without another patient\'s subject.',
  },
  TNP_ERR_BAD_ARGUMENT: {
    status: 400,
    issueCode: 'invalid',
    title: 'An argument is invalid',
    fix: 'Correct the argument or field named in the message: on the command line, see --help; in a request, the body described for that endpoint (README; docs/console.md for the console API).',
  },
  TNP_ERR_AUDIT_UNAVAILABLE: {
    status: 503,
    issueCode: 'transient',
    title: 'The audit trail cannot be written or read',
    fix: 'Check the storage in the settings (SQLite file and its directory writable by the service\'s user, disk not full; PostgreSQL reachable, not read-only, its user granted the privileges docs/audit.md lists, not locked by another writer). Nothing was sent without its record; retry when the store is back.',
  },
  TNP_ERR_AUDIT_RECORD_INVALID: {
    status: 500,
    issueCode: 'exception',
    title: 'An audit record or replay-guard entry is malformed',
    fix: 'A defect in the caller: the field named in the message must be as docs/audit.md says (kind, ISO UTC time, JSON body). Report it.',
  },
  TNP_ERR_AUDIT_LINK_UNKNOWN: {
    status: 400,
    issueCode: 'not-found',
    title: 'The audit record this one answers does not exist',
    fix: 'Refer to the id of a record already in the audit trail (for feedback: the record of the card being answered).',
  },
  TNP_ERR_AUDIT_CORRUPT: {
    status: 500,
    issueCode: 'exception',
    title: 'A stored audit record cannot be read',
    fix: 'The audit store has been altered outside the product. Run GET /audit/verify, keep the store as evidence and restore from a backup (see docs/audit.md).',
  },
  TNP_ERR_UNAUTHORIZED: {
    status: 401,
    issueCode: 'login',
    title: 'The request is not authenticated',
    fix: 'Send "Authorization: Bearer <JWT>" signed by a CDS client listed in the settings (cdsClients: iss, jwks or jwksUrl), with aud equal to the URL called (publicBaseUrl + path), a fresh jti, iat and exp (CDS Hooks 2.0, "Trusting CDS Clients").',
  },
  TNP_ERR_FHIR_UNAUTHORIZED: {
    status: 412,
    issueCode: 'security',
    title: 'The FHIR server refused the access token',
    fix: 'The EHR\'s FHIR server answered 401 or 403: send a valid, unexpired fhirAuthorization.access_token with scopes that allow reading the Patient and Observations, or send the data as prefetch.',
  },
  TNP_ERR_FHIR_FAILED: {
    status: 412,
    issueCode: 'exception',
    title: 'The FHIR server could not provide the data',
    fix: 'The FHIR server failed, could not be reached or sent something that is not FHIR JSON (the message names which request and quotes its OperationOutcome), or a compressed body although an uncompressed one was asked for: check fhirServer and the server\'s health (and that it honours Accept-Encoding: identity), or send the data as prefetch.',
  },
  TNP_ERR_FHIR_TIMEOUT: {
    status: 412,
    issueCode: 'timeout',
    title: 'The FHIR server did not answer in time',
    fix: 'The FHIR pull did not finish within fhirPullTimeoutMs: send the data as prefetch, speed up the FHIR server, or raise fhirPullTimeoutMs in the settings.',
  },
  TNP_ERR_FHIR_FOREIGN_LINK: {
    status: 412,
    issueCode: 'security',
    title: 'The FHIR server sent a paging link to another origin',
    fix: 'A search result\'s link[rel=next] pointed away from fhirServer\'s origin and was not followed (the access token is never sent to another host): configure the FHIR server to return next links on its own base URL.',
  },
  TNP_ERR_FHIR_SERVER_NOT_ALLOWED: {
    status: 412,
    issueCode: 'security',
    title: 'The fhirServer is not one this CDS client may name',
    fix: 'The service reads only the FHIR server bases listed for the calling client (cdsClients[].fhirServers in the settings; a base allows itself and paths under it). Ask the site to list the EHR\'s FHIR base there, send fhirServer as that base (no credentials in the URL), or send the data as prefetch.',
  },
  TNP_ERR_FHIR_UNAVAILABLE: {
    status: 412,
    issueCode: 'incomplete',
    title: 'The FHIR server could not be queried',
    fix: 'The data could not be read from fhirServer. What the server answered is not sent back; it is in the service log (event "data-unavailable") and in the call\'s evaluation-failure audit record (error.cause). Check the FHIR server and the access token, or send the data as prefetch.',
  },
  TNP_ERR_FHIR_LIMIT_EXCEEDED: {
    status: 412,
    issueCode: 'too-costly',
    title: 'The FHIR server sent more than the service reads',
    fix: 'A search needed more pages or resources, or a response body was larger, than the service reads (README, "How a CDS call gets its data"); the record could not be completely obtained, so it was not evaluated. Send the episode\'s data as prefetch, or have the FHIR server return fewer, smaller pages.',
  },
  TNP_ERR_CONSOLE_REQUEST_INVALID: {
    status: 400,
    issueCode: 'invalid',
    title: 'The console request is invalid',
    fix: 'Correct the field named in the message; the console API bodies are described in docs/console.md (JSON Schema in src/console/schemas.ts).',
  },
  TNP_ERR_CONSOLE_FIXTURE_UNKNOWN: {
    status: 404,
    issueCode: 'not-found',
    title: 'No scenario fixture has that name',
    fix: 'Use a name listed by GET /console/api/fixtures (the files of fhir-fixtures/ without .json).',
  },
  TNP_ERR_CONSOLE_CASE_LINK_INVALID: {
    status: 400,
    issueCode: 'invalid',
    title: 'The case link cannot be read',
    fix: 'The #case= part of the link must be the base64url-encoded case (and its signature) of at most 8,192 characters, as docs/console.md ("Case links") describes; open the link from the card again or enter the case by hand.',
  },
  TNP_ERR_CONSOLE_TOO_LARGE: {
    status: 413,
    issueCode: 'too-long',
    title: 'The console request is too large',
    fix: 'A case is a few kB: the console API takes bodies of at most 64 kB and at most 200 resources per request (docs/console.md, "Limits"). Send the episode\'s troponin, ECG and TIMI Observations and the Patient only.',
  },
  TNP_ERR_RATE_LIMITED: {
    status: 429,
    issueCode: 'throttled',
    title: 'Too many requests from this client',
    fix: 'Wait the number of seconds in the Retry-After header, then try again. The per-client limits are the rateLimit settings (README, "Settings"); behind a reverse proxy, list it in trustedProxies so that each client is counted on its own.',
  },
  TNP_ERR_CASE_LINK_KEY_UNUSABLE: {
    status: 500,
    issueCode: 'security',
    title: 'The key that signs case links cannot be used',
    fix: 'The file case-link.key in dataDir must hold 64 hexadecimal characters and be readable by the service only (chmod 600); delete it to have a new key made at the next start (links already issued then show as unverified), or set caseLinkKey in the settings. When it cannot be created (the data directory named in the message is on a read-only file system, EROFS, or not writable by the service\'s user, EACCES): make that directory writable, set dataDir to a writable directory, or set caseLinkKey in the settings.',
  },
} as const satisfies Record<string, ErrorDefinition>;

/** Every code: the first part's, then the second's (the order the registry always had). */
export const ERRORS = { ...SERVICE_ERRORS, ...REQUEST_ERRORS } as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;
