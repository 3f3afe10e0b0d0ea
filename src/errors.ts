/**
 * The one error registry. Every error the product raises on purpose has a stable code here, an HTTP
 * status, a message template and a "how to fix" line. `docs/errors.md` lists the same codes
 * (tests/unit/errors.test.ts fails when the two drift). One place (`toOperationOutcome`) turns any of
 * them into a FHIR OperationOutcome.
 */

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

export const ERRORS = {
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
  TNP_ERR_BAD_ARGUMENT: {
    status: 400,
    issueCode: 'invalid',
    title: 'An argument is invalid',
    fix: 'Correct the argument named in the message (see --help).',
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
  TNP_ERR_REQUEST_INVALID: {
    status: 400,
    issueCode: 'invalid',
    title: 'The request body does not have the required shape',
    fix: 'Correct the field named in the message (expression): a CDS Hooks 2.0 call needs hook, hookInstance, context.userId and context.patientId (a FHIR id), and fhirServer whenever fhirAuthorization is sent; feedback needs feedback[] with card, outcome (accepted|overridden), outcomeTimestamp, and acceptedSuggestions when accepted.',
  },
  TNP_ERR_HOOK_UNSUPPORTED: {
    status: 400,
    issueCode: 'not-supported',
    title: 'The service does not answer this hook',
    fix: 'Call hs-troponin-chest-pain with the hook named in GET /cds-services (patient-view).',
  },
  TNP_ERR_PREFETCH_INVALID: {
    status: 400,
    issueCode: 'structure',
    title: 'A prefetch value is not what its template asks for',
    fix: 'Send under each prefetch key what GET /cds-services names: a searchset Bundle for "observations", a Patient for "patient", null when there are no data, an OperationOutcome when the EHR could not get them, or leave the key out.',
  },
  TNP_ERR_DATA_UNAVAILABLE: {
    status: 412,
    issueCode: 'incomplete',
    title: 'The data the pathway requires could not be obtained',
    fix: 'Send the prefetch named in GET /cds-services, or a fhirServer (with fhirAuthorization) the service can read them from. A prefetch key holding an OperationOutcome, or a paged prefetch Bundle, needs a fhirServer to complete it.',
  },
  TNP_ERR_CARD_UNKNOWN: {
    status: 404,
    issueCode: 'not-found',
    title: 'Feedback names a card this service did not issue',
    fix: 'Send feedback with the uuid of a card returned by this service to the same CDS client (card.uuid, which is also extension["hs-troponin-cds"].auditId).',
  },
  TNP_ERR_NOT_FOUND: {
    status: 404,
    issueCode: 'not-found',
    title: 'Nothing here',
    fix: 'Check the method and path against the endpoints table in the README (for an audit record: its id as given in a card\'s auditId).',
  },
  TNP_ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    issueCode: 'not-supported',
    title: 'The request body is not JSON',
    fix: 'Send the body with Content-Type: application/json (or application/fhir+json).',
  },
  TNP_ERR_PAYLOAD_TOO_LARGE: {
    status: 413,
    issueCode: 'too-long',
    title: 'The request body is too large',
    fix: 'Send less prefetch (the Observations named by the discovery template only), or leave prefetch out and give a fhirServer.',
  },
  TNP_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    issueCode: 'too-long',
    title: 'The request headers are too large',
    fix: 'Send smaller headers: the card link to the console carries its case in the URL fragment, which a browser never sends; a bearer token of a few kilobytes is enough.',
  },
  TNP_ERR_REQUEST_UNREADABLE: {
    status: 400,
    issueCode: 'structure',
    title: 'The HTTP request could not be read',
    fix: 'Send a well-formed HTTP/1.1 request (request line, headers with valid values such as a numeric Content-Length, then the body it announces) within the server\'s request timeout.',
  },
  TNP_ERR_REPORT_QUERY_INVALID: {
    status: 400,
    issueCode: 'invalid',
    title: 'The report request is invalid',
    fix: 'Give from and to as dates (YYYY-MM-DD, from not after to, at most 10 years apart), granularity week or month, format json, csv or measure-report, and a pathway id of lowercase letters, digits and hyphens (see docs/adoption.md).',
  },
  TNP_ERR_ADMIN_UNAUTHORIZED: {
    status: 401,
    issueCode: 'login',
    title: 'The audit trail needs an admin token',
    fix: 'Send "Authorization: Bearer <token>" with one of the adminTokens of the site settings.',
  },
  TNP_ERR_LAB_UNAUTHORIZED: {
    status: 401,
    issueCode: 'login',
    title: 'Laboratory intake needs a lab client token',
    fix: 'Send "Authorization: Bearer <token>" with the token of one of the labClients of the site settings (GET /fhir/Observation also takes an admin token).',
  },
  TNP_ERR_WORKLIST_UNAUTHORIZED: {
    status: 401,
    issueCode: 'login',
    title: 'The worklist needs a worklist or admin token',
    fix: 'Send "Authorization: Bearer <token>" with one of the worklistTokens (or adminTokens) of the site settings.',
  },
  TNP_ERR_FHIR_RESOURCE_INVALID: {
    status: 400,
    issueCode: 'structure',
    title: 'The posted resource is not a valid FHIR R4 Observation',
    fix: 'Correct the element named in expression (FHIRPath): resourceType "Observation", a status of the FHIR value set, a code with codings, and each element of its FHIR type (see GET /fhir/metadata). Results the pathway cannot use are still stored and flagged; only malformed FHIR is refused.',
  },
  TNP_ERR_FHIR_BUNDLE_INVALID: {
    status: 400,
    issueCode: 'structure',
    title: 'The posted Bundle cannot be processed',
    fix: 'Send a Bundle of type "batch" or "transaction" whose entries each have request.method POST, request.url "Observation" and an Observation resource (optional request.ifNoneExist "identifier=system|value"). A transaction is refused whole when any entry is invalid; nothing of it is stored.',
  },
  TNP_ERR_FHIR_BUNDLE_TOO_LARGE: {
    status: 413,
    issueCode: 'too-long',
    title: 'The Bundle has more entries than the service takes at once',
    fix: 'Split the results over several Bundles of at most the number of entries named in the message.',
  },
  TNP_ERR_FHIR_CONDITION_INVALID: {
    status: 400,
    issueCode: 'not-supported',
    title: 'The conditional create cannot be evaluated',
    fix: 'Send If-None-Exist (or request.ifNoneExist) as "identifier=system|value", the only search the service evaluates for a conditional create.',
  },
  TNP_ERR_FHIR_CONDITION_MULTIPLE: {
    status: 412,
    issueCode: 'multiple-matches',
    title: 'The conditional create matches more than one result',
    fix: 'Make If-None-Exist name one result (an identifier used by one result only).',
  },
  TNP_ERR_LAB_RESULT_CONFLICT: {
    status: 409,
    issueCode: 'conflict',
    title: 'The result\'s identifier already names another result or another patient',
    fix: 'An identifier (for HL7: the filler order number with OBX-3 and OBX-4) names one result of one patient. To move a result to another patient, void it (status entered-in-error, HL7 OBX-11 D or W) and send the corrected result with a new identifier.',
  },
  TNP_ERR_LAB_BUSY: {
    status: 503,
    issueCode: 'transient',
    title: 'The result could not be stored now',
    fix: 'The patient\'s episode kept changing under concurrent posts, or this lab client has too many posts in flight: retry after a moment (nothing of this request was stored).',
  },
  TNP_ERR_HL7_MALFORMED: {
    status: 400,
    issueCode: 'structure',
    title: 'The HL7 v2 message cannot be read',
    fix: 'Send one ORU^R01 message per MLLP frame (VT ... FS CR), starting with an MSH segment with its encoding characters, a message type (MSH-9) and a control id (MSH-10); segment names of three letters or digits.',
  },
  TNP_ERR_HL7_UNSUPPORTED: {
    status: 400,
    issueCode: 'not-supported',
    title: 'The HL7 v2 message type, version or processing id is not taken',
    fix: 'Send ORU^R01, HL7 version 2.3, 2.3.1, 2.4, 2.5 or 2.5.1 (MSH-12), processing id P (MSH-11).',
  },
  TNP_ERR_HL7_FACILITY_UNKNOWN: {
    status: 403,
    issueCode: 'security',
    title: 'The HL7 sending facility belongs to no lab client',
    fix: 'Add the sending facility exactly as written in MSH-4 (e.g. "LAB^1.2.3^ISO") to the hl7Facilities of the lab client in the site settings, and restart.',
  },
  TNP_ERR_HL7_TOO_LARGE: {
    status: 413,
    issueCode: 'too-long',
    title: 'The HL7 v2 message is larger than the service takes',
    fix: 'Send the results in several messages, each under the size and segment count named in the message.',
  },
  TNP_ERR_STREAM_FULL: {
    status: 503,
    issueCode: 'throttled',
    title: 'Too many worklist streams are open',
    fix: 'Close worklist screens that are not in use, or poll GET /episodes?status=open instead of streaming.',
  },
  TNP_ERR_LISTEN_FAILED: {
    status: 500,
    issueCode: 'exception',
    title: 'The service cannot listen on HOST and PORT',
    fix: 'EADDRINUSE: another process already listens on that port; stop it, or set the PORT environment variable to a free port (e.g. PORT=8081 npm start). EADDRNOTAVAIL: HOST is not an address of this machine. EACCES: ports under 1024 need privileges; use a higher PORT behind a reverse proxy (docs/deployment.md).',
  },
  TNP_ERR_DEV_CLIENT_KEY: {
    status: 500,
    issueCode: 'exception',
    title: 'The local development client key is missing or unusable',
    fix: 'Start the service with `npx hs-troponin-cds dev`: it makes the key (dev-client-key.json in the data directory, dataDir) and trusts it from this machine only. Run `call` from the same directory, with the same HS_TROPONIN_CDS_SETTINGS. A damaged key file: delete it and start `dev` again. A key that cannot be written (the data directory named in the message is on a read-only file system, EROFS, or not writable by the service\'s user, EACCES): make that directory writable or set dataDir to a writable directory.',
  },
  TNP_ERR_EVALUATION_TIME_REFUSED: {
    status: 400,
    issueCode: 'business-rule',
    title: 'The request asks for an evaluation time this service does not take from it',
    fix: 'Leave out the extension "hs-troponin-cds-dev": a CDS call is evaluated when it is received. Only the local development client of `npx hs-troponin-cds dev` (this machine) may set the time, as an ISO 8601 date-time with a zone (`npx hs-troponin-cds call --now`).',
  },
  TNP_ERR_SERVICE_UNREACHABLE: {
    status: 500,
    issueCode: 'exception',
    title: 'No service answers at HOST and PORT',
    fix: 'Start it (`npx hs-troponin-cds dev` in another terminal) and give `call` the same HOST and PORT environment variables (default 127.0.0.1 and 8080).',
  },
  TNP_ERR_INTERNAL: {
    status: 500,
    issueCode: 'exception',
    title: 'Internal error',
    fix: 'A defect: the service log has the details under the incident id in the message. Report it.',
  },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;

/** The product's only error type: a stable code, a message that says what is wrong, optional details. */
export class TnpError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: readonly string[];
  /** FHIRPath-like locations of the problem, for OperationOutcome.issue.expression. */
  readonly expression: readonly string[];

  constructor(code: ErrorCode, message?: string, opts: { details?: readonly string[]; expression?: readonly string[]; cause?: unknown } = {}) {
    const def = ERRORS[code];
    super(message ?? def.title, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TnpError';
    this.code = code;
    this.status = def.status;
    this.details = opts.details ?? [];
    this.expression = opts.expression ?? [];
  }

  get fix(): string {
    return ERRORS[this.code].fix;
  }
}

export function isTnpError(e: unknown): e is TnpError {
  return e instanceof TnpError;
}

export interface OperationOutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: string;
  details?: { coding?: { system: string; code: string }[]; text: string };
  diagnostics?: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

export const ERROR_CODE_SYSTEM = 'http://hs-troponin-cds.example/fhir/CodeSystem/error';

/** The one place an error becomes a FHIR OperationOutcome. */
export function toOperationOutcome(e: TnpError): OperationOutcome {
  const def = ERRORS[e.code];
  const issues: OperationOutcomeIssue[] = [
    {
      severity: 'error',
      code: def.issueCode,
      details: { coding: [{ system: ERROR_CODE_SYSTEM, code: e.code }], text: e.message },
      diagnostics: `How to fix: ${def.fix}`,
      ...(e.expression.length > 0 ? { expression: [...e.expression] } : {}),
    },
  ];
  for (const d of e.details) issues.push({ severity: 'error', code: def.issueCode, diagnostics: d });
  return { resourceType: 'OperationOutcome', issue: issues };
}
