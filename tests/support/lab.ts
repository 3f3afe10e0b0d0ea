/**
 * Laboratory test helpers: results as a laboratory posts them (FHIR Observations, HL7 v2 ORU^R01
 * messages), a settable clock, a lab client's HTTP calls, and a real webhook receiver on loopback.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
export const LAB_TOKEN = 'lab-token-0123456789abcdef';
export const LAB2_TOKEN = 'lab-two-token-0123456789abcdef';
export const WORKLIST_TOKEN = 'worklist-token-0123456789abcdef';
export const PRODUCT = 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain';
export const RESULTS = 'https://lab.hospital.example/results';

export interface TroponinSpec {
  readonly nhs?: string | null;
  readonly value?: number;
  readonly unit?: string;
  readonly at: string;
  readonly id?: string | null;
  readonly status?: string;
  readonly comparator?: string;
  readonly code?: { system: string; code: string };
  readonly encounter?: string;
}

export function troponin(s: TroponinSpec): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    ...(s.id === null ? {} : { identifier: [{ system: RESULTS, value: s.id ?? `r-${s.at}` }] }),
    status: s.status ?? 'final',
    code: { coding: [s.code ?? { system: 'http://loinc.org', code: '67151-1', display: 'Troponin T.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method' }] },
    ...(s.nhs === null ? {} : { subject: { identifier: { system: NHS, value: s.nhs ?? '9434765919' } } }),
    ...(s.encounter === undefined ? {} : { encounter: { reference: `Encounter/${s.encounter}` } }),
    effectiveDateTime: s.at,
    ...(s.value === undefined ? {} : { valueQuantity: { value: s.value, ...(s.comparator === undefined ? {} : { comparator: s.comparator }), unit: s.unit ?? 'ng/L', system: 'http://unitsofmeasure.org', code: s.unit ?? 'ng/L' } }),
  };
}

export function ecg(nhs: string, at: string, id = `ecg-${at}`): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    identifier: [{ system: RESULTS, value: id }],
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] },
    subject: { identifier: { system: NHS, value: nhs } },
    effectiveDateTime: at,
    valueCodeableConcept: { coding: [{ system: PRODUCT, code: 'no-stemi-or-new-lbbb' }] },
  };
}

export function timi(nhs: string, at: string, score = 2, id = `timi-${at}`): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    identifier: [{ system: RESULTS, value: id }],
    status: 'final',
    code: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] },
    subject: { identifier: { system: NHS, value: nhs } },
    effectiveDateTime: at,
    valueInteger: score,
  };
}

/** An ORU^R01 (segments joined with CR) for one troponin, as laboratories send them. */
export function oru(o: { nhs?: string; mrn?: string; facility?: string; control?: string; filler?: string; value?: string; units?: string; status?: string; drawn?: string; version?: string; type?: string; processing?: string; obx3?: string; extraObx?: string[] }): string {
  const pid3 = [o.nhs === undefined ? '9434765919^^^NHS^NH' : `${o.nhs}^^^NHS^NH`, ...(o.mrn === undefined ? [] : [`${o.mrn}^^^HOSP^MR`])].join('~');
  return [
    `MSH|^~\\&|LIS|${o.facility ?? 'LAB^1.2.3^ISO'}|TNP|ED|20260306101500||${o.type ?? 'ORU^R01^ORU_R01'}|${o.control ?? 'MSG0001'}|${o.processing ?? 'P'}|${o.version ?? '2.5.1'}`,
    `PID|1||${pid3}||DOE^JANE||19600101|F`,
    'PV1|1|E|ED^^^HOSP||||||||||||||||V123^^^HOSP^VN',
    `OBR|1|PLAC1|${o.filler ?? 'FILL1'}^LIS|67151-1^Troponin T hs^LN|||${o.drawn ?? '202603061000+0000'}`,
    `OBX|1|NM|${o.obx3 ?? '67151-1^Troponin T hs^LN'}|1|${o.value ?? '10'}|${o.units ?? 'ng/L^^UCUM'}|<14|N|||${o.status ?? 'F'}|||${o.drawn ?? '202603061000+0000'}`,
    ...(o.extraObx ?? []),
  ].join('\r');
}

export interface Receiver {
  readonly url: string;
  readonly received: { headers: IncomingMessage['headers']; body: string }[];
  /** The status the next requests get (default 200). */
  status: number;
  close(): Promise<void>;
}

/** A real webhook receiver on 127.0.0.1. */
export async function webhookReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const state = { status: 200 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(state.status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/troponin`,
    received,
    get status() {
      return state.status;
    },
    set status(v: number) {
      state.status = v;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A clock tests move by hand. */
export function manualClock(start: string): { now: () => Date; set: (iso: string) => void; advance: (ms: number) => void } {
  let t = Date.parse(start);
  return { now: () => new Date(t), set: (iso) => (t = Date.parse(iso)), advance: (ms) => (t += ms) };
}

export interface Http {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape
  readonly json: any;
}

export async function http(base: string, method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<Http> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}
