/**
 * The error registry's second part (src/error-registry.ts has the first and merges the two): requests
 * and HTTP, reports, administration, the laboratory intake (FHIR and HL7 v2), the worklist stream, the
 * listener and the command line's development client.
 */
import type { ErrorDefinition } from './error-registry.js';

export const REQUEST_ERRORS = {
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
  TNP_ERR_REPORT_STORE_MISSING: {
    status: 500,
    issueCode: 'not-found',
    title: 'The audit store named in the settings does not exist',
    fix: 'The report reads the store the service writes and never creates one: run it with the service\'s own settings (--settings <file>, or HS_TROPONIN_CDS_SETTINGS), or set storage.path there to the service\'s SQLite file (a relative path is read from the directory the command runs in). A service that has never started has no store yet.',
  },
  TNP_ERR_ADMIN_UNAUTHORIZED: {
    status: 401,
    issueCode: 'login',
    title: 'The audit trail needs an admin token',
    fix: 'Send "Authorization: Bearer <token>" with one of the adminTokens of the site settings.',
  },
  TNP_ERR_AUDIT_QUERY_INVALID: {
    status: 400,
    issueCode: 'invalid',
    title: 'The audit query is invalid',
    fix: 'GET /audit takes patient, the FHIR id of the patient whose records to list (required: 1 to 64 letters, digits, "-" or "."), and limit, how many records to return, newest first (optional: a whole number from 1 to 10000, default 100), and nothing else; GET /audit/{id} takes the id of one record (a card\'s uuid or auditId), and GET /audit/verify nothing (see README, "Endpoints", and docs/audit.md).',
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
    title: 'The result\'s identifier already names another result, another patient\'s result or another laboratory\'s result',
    fix: 'An identifier (for HL7: the filler order number with OBX-3 and OBX-4) names one result of one patient, sent by one laboratory. To move a result to another patient, void it (status entered-in-error, HL7 OBX-11 D or W) and send the corrected result with a new identifier. A result another laboratory (another lab client) sent can be changed or voided only by that laboratory: use an identifier system of your own.',
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
