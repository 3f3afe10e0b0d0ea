/**
 * HL7 v2 acknowledgements (original mode), built with @medplum/core's message classes but with the
 * injected clock and id generator (Hl7Message.buildAck reads the system clock and uses it as the control
 * id). MSA-1: AA (stored; ERR segments of severity W name what the pathway cannot use), AE (the content
 * is in error: nothing stored), AR (not processed: malformed, unsupported, unknown facility, too large,
 * or the store unavailable: send again). ERR carries the location (ERR-2, or ERR-1 before v2.5), the
 * HL7 error code (table 0357), the severity and the message with its TNP_ERR code.
 */
import { Hl7Context, Hl7Message, Hl7Segment, type Hl7Message as Msg } from '@medplum/core';
import type { TnpError } from '../errors.js';

export interface AckIssue {
  readonly severity: 'E' | 'W';
  readonly hl7Code: string;
  readonly text: string;
  readonly location: { readonly segment: string; readonly seq: number; readonly field: number } | null;
}

const CODE_TEXT: Record<string, string> = {
  '0': 'Message accepted',
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '206': 'Application record locked',
  '207': 'Application internal error',
};

/** Text safe inside a field: the delimiters escaped, control characters dropped, bounded. */
export function escapeText(v: string, max = 200): string {
  return v
    .slice(0, max)
    // eslint-disable-next-line no-control-regex -- control characters are what is removed
    .replace(/[\x00-\x1f]/g, ' ')
    .replace(/\\/g, '\\E\\')
    .replace(/\|/g, '\\F\\')
    .replace(/\^/g, '\\S\\')
    .replace(/~/g, '\\R\\')
    .replace(/&/g, '\\T\\');
}

function hl7Now(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, '+0000');
}

export function issueOf(e: TnpError, hl7Code: string, location: AckIssue['location'], severity: 'E' | 'W' = 'E'): AckIssue {
  return { severity, hl7Code, text: `${e.code}: ${e.message}`, location };
}

/** The ACK of `msg` (or of an unreadable message when null). */
export function buildAck(msg: Msg | null, code: 'AA' | 'AE' | 'AR', issues: readonly AckIssue[], clock: { now: Date; controlId: string }): Hl7Message {
  const ctx = new Hl7Context();
  const h = msg?.getSegment('MSH');
  const get = (i: number): string => h?.getField(i)?.toString() ?? '';
  const version = get(12) === '' ? '2.5.1' : get(12).split(ctx.componentSeparator)[0] ?? '2.5.1';
  const trigger = h?.getField(9)?.getComponent(2) ?? 'R01';
  const old = ['2.3', '2.3.1', '2.4'].includes(version);
  const msh = new Hl7Segment(['MSH', ctx.getMsh2(), get(5) || 'HS-TROPONIN-CDS', get(6), get(3), get(4), hl7Now(clock.now), '', `ACK^${trigger || 'R01'}^ACK`, clock.controlId, 'P', version], ctx);
  const first = issues.find((i) => i.severity === 'E') ?? issues[0];
  const msa = new Hl7Segment(['MSA', code, get(10), escapeText(first?.text ?? (code === 'AA' ? 'Message accepted' : CODE_TEXT[first?.hl7Code ?? '207'] ?? 'Error'), 80)], ctx);
  const errs = issues.slice(0, 50).map((i) => {
    const loc = i.location === null ? '' : `${i.location.segment}^${i.location.seq}^${i.location.field}`;
    const codeField = `${i.hl7Code}^${CODE_TEXT[i.hl7Code] ?? 'Error'}^HL70357`;
    if (old) return new Hl7Segment(['ERR', `${loc.replace(/\^$/, '')}^${codeField.replace(/\^/g, '&')}`], ctx);
    return new Hl7Segment(['ERR', '', loc, codeField, i.severity, '', '', '', escapeText(i.text, 250)], ctx);
  });
  return new Hl7Message([msh, msa, ...errs], ctx);
}
