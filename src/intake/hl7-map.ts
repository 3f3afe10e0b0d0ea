/**
 * HL7 v2 ORU^R01 (2.3 to 2.5.1) -> FHIR Observations, one per OBX, then the same intake items as a FHIR
 * post (src/intake/item.ts), so the two channels cannot differ. Parsed by @medplum/core's Hl7Message.
 *
 * | HL7 | FHIR |
 * |---|---|
 * | PID-3 (each repetition: id, assigning authority, type; none without an authority) | subject.identifier (NHS number first) and the patient's links |
 * | PV1-19 visit number | encounter.identifier (identifier only: it does not split episodes, rule 3) |
 * | OBR-3 (else ORC-3) filler order number + OBX-3 + OBX-4, scoped to the lab client | identifier (the result's identity: repeats are idempotent) |
 * | OBX-3 (LN, SCT, or the site's coding systems) | code.coding |
 * | OBX-2 / OBX-5 (NM, SN `<^5`, ST `<5`, CE/CWE) | valueQuantity (value, comparator), valueCodeableConcept, else valueString |
 * | OBX-6 (UCUM, or another system: not UCUM) | valueQuantity.unit / system / code |
 * | OBX-11 F C A P R S I O N X D W U | final corrected amended preliminary (P R S) registered (I O) cancelled (N X) entered-in-error (D W); U: the stored result made final |
 * | OBX-14, else OBR-7 | effectiveDateTime; OBR-22 issued |
 * | NTE after an OBX | note |
 */
import type { Hl7Message, Hl7Segment } from '@medplum/core';
import { TnpError } from '../errors.js';
import type { LabClientSettings } from '../settings.js';
import { hl7Time } from './hl7-time.js';
import { itemOf, type Flag, type IntakeItem } from './item.js';
import { NHS_NUMBER_SYSTEM, type Identifier } from './patient.js';
import { checkObservation } from './validate.js';

export const HL7_VERSIONS = ['2.3', '2.3.1', '2.4', '2.5', '2.5.1'];
export const MAX_SEGMENTS = 2000;
export const MAX_OBX = 500;

/** A message refused: AR (not processed: send again once fixed or later) or AE (its content is in error). */
export class Hl7Problem extends Error {
  constructor(
    readonly ack: 'AR' | 'AE',
    readonly error: TnpError,
    /** HL7 table 0357 code (100 segment sequence, 101 required field missing, 102 data type, 200-204 unsupported...). */
    readonly hl7Code: string,
    readonly location: { readonly segment: string; readonly seq: number; readonly field: number } | null = null,
  ) {
    super(error.message);
    this.name = 'Hl7Problem';
  }
}

const CODING_SYSTEMS: Record<string, string> = { LN: 'http://loinc.org', SCT: 'http://snomed.info/sct', SNM: 'http://snomed.info/sct', SNM3: 'http://snomed.info/sct', UCUM: 'http://unitsofmeasure.org' };
const STATUS: Record<string, string> = { F: 'final', C: 'corrected', A: 'amended', P: 'preliminary', R: 'preliminary', S: 'preliminary', I: 'registered', O: 'registered', N: 'cancelled', X: 'cancelled', D: 'entered-in-error', W: 'entered-in-error', U: 'final' };
const URN = 'urn:hs-troponin-cds:hl7v2';

const f = (s: Hl7Segment | undefined, field: number, comp = 1, rep = 0): string => {
  if (s === undefined) return '';
  const fl = s.getField(field);
  if (fl === undefined || rep >= fl.components.length) return '';
  return unescape(fl.getComponent(comp, undefined, rep)).trim();
};

/** HL7 escape sequences in text (\F\ \S\ \R\ \E\ \T\); others are dropped. */
function unescape(v: string): string {
  return v.replace(/\\([FSRET]|[^\\]*)\\/g, (_m, c: string) => ({ F: '|', S: '^', R: '~', E: '\\', T: '&' })[c] ?? '');
}

function codingSystem(name: string, client: LabClientSettings): string {
  return client.hl7CodingSystems[name] ?? CODING_SYSTEMS[name.toUpperCase()] ?? `${URN}:coding-system:${encodeURIComponent(name === '' ? 'L' : name)}`;
}

/**
 * PID-3's identifiers, NHS numbers under the NHS system, others by the client's map, OIDs, or a URN of
 * their assigning authority. A repetition without an assigning authority (nor the NHS type, nor the
 * client's mapping of the empty authority `""`) is left out and its value returned in `unscoped`.
 */
function patientIdentifiers(pid: Hl7Segment, client: LabClientSettings, unscoped: string[]): Identifier[] {
  const field = pid.getField(3);
  const out: Identifier[] = [];
  for (let rep = 0; field !== undefined && rep < Math.min(field.components.length, 20); rep++) {
    const value = f(pid, 3, 1, rep);
    if (value === '') continue;
    const authority = unescape(field.getComponent(4, undefined, rep));
    const [ns = '', uid = '', uidType = ''] = authority.split(pid.context.subcomponentSeparator).map((x) => x.trim());
    const type = f(pid, 3, 5, rep);
    let system = client.hl7IdentifierSystems[ns] ?? client.hl7IdentifierSystems[uid];
    if (system === undefined && (type === 'NH' || ns.toUpperCase() === 'NHS')) system = NHS_NUMBER_SYSTEM;
    if (system === undefined && uid !== '' && uidType.toUpperCase() === 'ISO') system = `urn:oid:${uid}`;
    // No assigning authority (and no mapping for none): the value is some system's number, not a patient's
    // identity across sources; as a FHIR identifier without a system, it names no patient (hazard L-49).
    if (system === undefined && ns === '' && uid === '') {
      unscoped.push(value);
      continue;
    }
    system ??= `${URN}:assigning-authority:${encodeURIComponent(ns === '' ? uid : ns)}`;
    out.push({ system, value: system === NHS_NUMBER_SYSTEM ? value.replace(/\s+/g, '') : value });
  }
  return out;
}

const NUMBER = /^(<=|>=|<|>)?\s*(-?(?:\d+\.?\d*|\.\d+))$/;

/** A number the pathway can read exactly (at most 15 significant digits), as a JSON number. */
function exactNumber(text: string): number | null {
  const digits = text.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  if (digits.length > 15) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

function valueOf(obx: Hl7Segment, client: LabClientSettings, flags: Flag[]): Record<string, unknown> {
  const type = f(obx, 2).toUpperCase();
  const field = obx.getField(5);
  if (field === undefined || field.toString().trim() === '') return {};
  if (field.components.length > 1) flags.push({ code: 'more-values', text: 'OBX-5 repeats: only the first value is read' });
  const unitId = f(obx, 6, 1);
  const unitSystem = f(obx, 6, 3);
  const unit = unitId === '' ? {} : { unit: f(obx, 6, 2) || unitId, system: unitSystem === '' || unitSystem.toUpperCase() === 'UCUM' ? 'http://unitsofmeasure.org' : codingSystem(unitSystem, client), code: unitId };
  if (type === 'CE' || type === 'CWE' || type === 'CNE') {
    return { valueCodeableConcept: { coding: [{ system: codingSystem(f(obx, 5, 3), client), code: f(obx, 5, 1), ...(f(obx, 5, 2) === '' ? {} : { display: f(obx, 5, 2) }) }] } };
  }
  let text = f(obx, 5, 1);
  if (type === 'SN') {
    const [cmp, n1, sep, n2] = [f(obx, 5, 1), f(obx, 5, 2), f(obx, 5, 3), f(obx, 5, 4)];
    text = sep === '' && n2 === '' && ['', '=', '<', '>', '<=', '>='].includes(cmp) ? `${cmp === '=' ? '' : cmp}${n1}` : field.toString();
  } else if (type !== 'NM' && type !== 'ST' && type !== 'TX' && type !== 'FT') {
    flags.push({ code: 'value-type', text: `OBX-2 value type "${type.slice(0, 10)}" is read as text` });
  }
  const m = NUMBER.exec(text);
  const n = m?.[2] === undefined ? null : exactNumber(m[2]);
  if (m === null || n === null) return { valueString: text.slice(0, 1000) };
  return { valueQuantity: { value: n, ...(m[1] === undefined ? {} : { comparator: m[1] }), ...unit } };
}

interface Context {
  pid?: Hl7Segment;
  pv1?: Hl7Segment;
  orc?: Hl7Segment;
  obr?: Hl7Segment;
  last?: Record<string, unknown>;
}

/** The message's results as intake items. @throws Hl7Problem (AR for the message, AE for its content). */
export function mapOru(msg: Hl7Message, client: LabClientSettings, meta: { controlId: string; messageSha256: string; facility: string }): IntakeItem[] {
  const version = f(msg.header, 12);
  if (msg.segments.length > MAX_SEGMENTS) throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_TOO_LARGE', `the message has ${msg.segments.length} segments; at most ${MAX_SEGMENTS} are taken`), '100');
  const obxCount = msg.segments.filter((s) => s.name === 'OBX').length;
  if (obxCount > MAX_OBX) throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_TOO_LARGE', `the message has ${obxCount} OBX segments; at most ${MAX_OBX} are taken`), '100');
  if (obxCount === 0) throw new Hl7Problem('AE', new TnpError('TNP_ERR_HL7_MALFORMED', 'the ORU^R01 message has no OBX segment: no result to store'), '101', { segment: 'OBX', seq: 1, field: 0 });
  const zone = client.hl7TimeZone;
  const ctx: Context = {};
  const drafts: { resource: Record<string, unknown>; flags: Flag[]; path: string; ids: Identifier[]; finalise: boolean; seq: number; earlier: string[] }[] = [];
  let seq = 0;
  for (const s of msg.segments) {
    switch (s.name) {
      case 'PID':
        ctx.pid = s;
        delete ctx.pv1;
        break;
      case 'PV1':
        ctx.pv1 = s;
        break;
      case 'ORC':
        ctx.orc = s;
        break;
      case 'OBR':
        ctx.obr = s;
        break;
      case 'NTE': {
        const note = f(s, 3);
        if (ctx.last !== undefined && note !== '') ctx.last['note'] = [...((ctx.last['note'] as unknown[] | undefined) ?? []), { text: note.slice(0, 2000) }];
        break;
      }
      case 'OBX': {
        seq += 1;
        const flags: Flag[] = [];
        const where = { segment: 'OBX', seq, field: 3 };
        const code = f(s, 3, 1);
        const codeText = f(s, 3, 2);
        if (code === '' && codeText === '') throw new Hl7Problem('AE', new TnpError('TNP_ERR_HL7_MALFORMED', `OBX[${seq}]-3 (the test) is empty`), '101', where);
        const codings = [
          ...(code === '' ? [] : [{ system: codingSystem(f(s, 3, 3), client), code, ...(codeText === '' ? {} : { display: codeText }) }]),
          ...(f(s, 3, 4) === '' ? [] : [{ system: codingSystem(f(s, 3, 6), client), code: f(s, 3, 4), ...(f(s, 3, 5) === '' ? {} : { display: f(s, 3, 5) }) }]),
        ];
        const statusCode = f(s, 11).toUpperCase();
        const status = STATUS[statusCode] ?? 'unknown';
        if (STATUS[statusCode] === undefined) flags.push({ code: 'status', text: `OBX-11 result status "${statusCode.slice(0, 5)}" is not one the service maps` });
        const drawn = hl7Time(f(s, 14) !== '' ? f(s, 14) : f(ctx.obr, 7), zone);
        if (!drawn.ok) flags.push({ code: 'draw-time', text: `draw time (OBX-14, else OBR-7): ${drawn.problem}` });
        const issued = hl7Time(f(ctx.obr, 22), zone);
        const filler = f(ctx.obr, 3) || f(ctx.orc, 3);
        const fillerNs = f(ctx.obr, 3) !== '' ? f(ctx.obr, 3, 2) || f(ctx.obr, 3, 3) : f(ctx.orc, 3, 2) || f(ctx.orc, 3, 3);
        const unscoped: string[] = [];
        const ids = ctx.pid === undefined ? [] : patientIdentifiers(ctx.pid, client, unscoped);
        if (ids.length === 0 && unscoped.length > 0) {
          flags.push({ code: 'patient-identifier', text: `PID-3 "${unscoped[0]?.slice(0, 40) ?? ''}" has no assigning authority (PID-3.4): it names no patient across laboratories, so the result is kept unmatched` });
        }
        // The filler order number's namespace is the sending laboratory's own (two laboratories may both
        // call themselves "LIS"): the result's identity is scoped to the lab client (hazard L-48). Results
        // stored before that scoping are still found by their earlier identifier, for this client only.
        const fillerSystem = encodeURIComponent(fillerNs || meta.facility);
        const visit = f(ctx.pv1, 19);
        const resource: Record<string, unknown> = {
          resourceType: 'Observation',
          ...(filler === '' ? {} : { identifier: [{ system: `${URN}:lab:${encodeURIComponent(client.name)}:filler:${fillerSystem}`, value: [filler, code, f(s, 3, 3), f(s, 4)].map(encodeURIComponent).join('|') }] }),
          status,
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
          code: { coding: codings, ...(codeText === '' ? {} : { text: codeText }) },
          ...(ids[0] === undefined ? {} : { subject: { identifier: ids[0] } }),
          ...(visit === '' ? {} : { encounter: { identifier: { system: `${URN}:visit:${encodeURIComponent(f(ctx.pv1, 19, 4) || meta.facility)}`, value: visit } } }),
          ...(drawn.ok ? { effectiveDateTime: drawn.fhir } : {}),
          ...(issued.ok ? { issued: issued.fhir } : {}),
          ...valueOf(s, client, flags),
        };
        ctx.last = resource;
        const earlier = filler === '' ? [] : [`identifier|${URN}:filler:${fillerSystem}|${[filler, code, f(s, 3, 3), f(s, 4)].map(encodeURIComponent).join('|')}`];
        drafts.push({ resource, flags, path: `OBX[${seq}]`, ids, finalise: statusCode === 'U', seq, earlier });
        break;
      }
      default:
        break;
    }
  }
  return drafts.map((d) => {
    try {
      checkObservation(d.resource, d.path);
    } catch (e) {
      if (e instanceof TnpError) throw new Hl7Problem('AE', e, '102', { segment: 'OBX', seq: d.seq, field: 5 });
      throw e;
    }
    return itemOf(d.resource, { path: d.path, source: { channel: 'hl7', controlId: meta.controlId, facility: meta.facility, segment: d.path, messageSha256: meta.messageSha256, version }, moreIdentifiers: d.ids, extraFlags: d.flags, finaliseStored: d.finalise, ownLookupKeys: d.earlier });
  });
}
