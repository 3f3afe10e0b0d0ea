/**
 * The card's Markdown `detail` (GitHub-Flavored Markdown), for a doctor: the next step first, then (for
 * a rule-out) what it does not exclude and the safety-net advice, the troponin values with local draw
 * times, what is missing or could not be read, and one line linking to the console's rules page. All
 * wording comes from the pathway file's `cards` section (src/cds/card-text.ts). Resource ids, outcome
 * codes and UTC times stay in the card extension, the audit record and the console, never here.
 *
 * Bounded whatever the input (rule 16): each list shows its first lines and counts the rest, and the
 * whole stays under {@link MAX_DETAIL_BYTES}. Text from the data is escaped.
 */
import type { Decision, InputUse, ResultSummary } from '../engine/types.js';
import { fill } from '../engine/template.js';
import { type CardText, type RowRole, textFor } from './card-text.js';
import { formattersFor, localTime } from './card-values.js';

/** The detail stays under 32 kB whatever the input (rule 16); past it, it is cut with a note. */
export const MAX_DETAIL_BYTES = 32 * 1024;
/** Lines listed per section of the detail (missing, uninterpretable); the rest are counted. */
export const DETAIL_LINES = 12;

/** Escapes text that comes from the data (or the EHR) so it cannot become Markdown or HTML. */
export function md(text: string): string {
  return text.replace(/[\\`*_[\]|<>~&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`)).replace(/[\r\n]+/g, ' ');
}

/** A URL inside a Markdown link's parentheses. */
function mdUrl(url: string): string {
  return url.replace(/[()\s<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Placeholder values escaped for Markdown (the rules URL as a link target). */
export function escapeValue(value: string, name: string): string {
  return name === 'rulesUrl' ? mdUrl(value) : md(value);
}

const RESOURCE_REF = /\b[A-Z][A-Za-z]+\/[^\s,;:()"'[\]]+/g;
const ISO_INSTANT = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g;

export interface DetailContext {
  readonly text: CardText;
  readonly values: Readonly<Record<string, string | undefined>>;
  readonly displayTimeZone: string;
  /** Assay id to name, to say assays in words. */
  readonly assayNames: ReadonlyMap<string, string>;
}

/**
 * Engine text for people, made fit for the card: resource references go (a "ref: why" loses its
 * prefix), UTC times become local, assay ids become names.
 */
function humanise(text: string, decision: Decision, ctx: DetailContext): string {
  const f = formattersFor(ctx.text.locale, ctx.displayTimeZone);
  let out = text;
  const refs = [...new Set(decision.inputs.map((i) => i.ref))].filter((r) => r !== '').sort((a, b) => b.length - a.length);
  for (const r of refs) out = out.split(`${r}: `).join('').split(r).join('');
  out = out.replace(RESOURCE_REF, '').replace(ISO_INSTANT, (iso) => localTime(iso, decision.evaluatedAt, f));
  for (const [id, name] of ctx.assayNames) out = out.split(id).join(name);
  return out.replace(/\(\s*[,;]?\s*\)/g, '').replace(/\s+([,;.)])/g, '$1').replace(/\s{2,}/g, ' ').trim();
}

/** The first {@link DETAIL_LINES} lines, then one counting the rest (never silently dropped). */
function boundedLines(lines: readonly string[], extra: number, ctx: DetailContext): string[] {
  const out = lines.slice(0, DETAIL_LINES).map((l) => `- ${l}`);
  const rest = Math.max(0, lines.length - DETAIL_LINES) + extra;
  if (rest > 0) out.push(`- ${fill(ctx.text.more, { ...ctx.values, count: formattersFor(ctx.text.locale, ctx.displayTimeZone).number.format(rest) }, escapeValue)}`);
  return out;
}

function resultsTable(decision: Decision, ctx: DetailContext): string[] {
  const t = ctx.text;
  const f = formattersFor(t.locale, ctx.displayTimeZone);
  const when = (iso: string): string => localTime(iso, decision.evaluatedAt, f);
  const value = (r: ResultSummary): string => {
    const plain = `${r.valueNgL} ng/L`;
    return r.reported === plain || r.reported === `${r.valueNgL} ng/l` ? md(r.valueNgL) : `${md(r.valueNgL)} (${fill(t.reportedAs, { ...ctx.values, reported: r.reported }, escapeValue)})`;
  };
  const row = (role: RowRole, r: ResultSummary, after: string, change: string): string =>
    `| ${md(t.roles[role])} ${md(when(r.drawTime))}${after} | ${value(r)} | ${change} |`;
  const head = [`| ${t.resultsColumns.map((c) => fill(c, ctx.values, escapeValue)).join(' | ')} |`, '|---|---|---|'];
  const { baseline, later, summary } = decision.troponin;
  if (summary?.overMax === true) {
    const rows = (['first', 'last', 'highest'] as const).flatMap((k) => (summary[k] === null ? [] : [row(k, summary[k], '', '')]));
    return [fill(t.overMax, ctx.values, escapeValue), '', ...(rows.length === 0 ? [] : [...head, ...rows, ''])];
  }
  if (baseline === null) return [];
  const lines = [...head, row('baseline', baseline, '', '')];
  for (const l of later.slice(0, DETAIL_LINES)) {
    const after = ` (${fill(t.afterBaseline, { ...ctx.values, minutes: l.minutesAfterBaseline }, escapeValue)})`;
    lines.push(row(l.role, l, after, l.changePercent === null ? '' : `${md(l.changePercent)}%`));
  }
  if (later.length > DETAIL_LINES) lines.push(`| ${fill(t.more, { ...ctx.values, count: f.number.format(later.length - DETAIL_LINES) }, escapeValue)} | | |`);
  return [...lines, '', fill(t.assay, ctx.values, escapeValue), ''];
}

/** Entries standing for several resources count as many. */
const weight = (entries: readonly InputUse[]): number => entries.reduce((n, i) => n + (i.count ?? 1), 0);

/** The detail under {@link MAX_DETAIL_BYTES}: cut at a line, with a note counting the lines cut, should it ever reach it. */
export function bounded(detail: string, note: (linesCut: number) => string): string {
  if (Buffer.byteLength(detail) < MAX_DETAIL_BYTES) return detail;
  const total = detail.split('\n').length;
  let cut = detail.slice(0, MAX_DETAIL_BYTES / 2);
  while (Buffer.byteLength(cut) + 1024 >= MAX_DETAIL_BYTES) cut = cut.slice(0, Math.floor(cut.length * 0.9));
  const kept = cut.slice(0, Math.max(0, cut.lastIndexOf('\n')));
  return `${kept}\n\n${note(total - kept.split('\n').length)}`;
}

export function detailFor(decision: Decision, ctx: DetailContext): string {
  const t = ctx.text;
  const { fields } = textFor(t, decision);
  const say = (label: string, template: typeof fields.nextStep): string[] =>
    template === undefined ? [] : [`**${md(label)}:** ${fill(template, ctx.values, escapeValue)}`, ''];
  const lines: string[] = [...say(t.labels.nextStep, fields.nextStep), ...say(t.labels.caveat, fields.caveat), ...say(t.labels.safetyNet, fields.safetyNet)];

  lines.push(...resultsTable(decision, ctx));

  if (decision.missingDetails.length > 0) {
    const items = decision.missingDetails.map((m) => md(humanise(m.text, decision, ctx)));
    lines.push(`**${md(t.labels.missing)}:**`, '', ...boundedLines(items, 0, ctx), '');
  }
  const uninterpretable = decision.inputs.filter((i) => i.use === 'uninterpretable');
  if (uninterpretable.length > 0) {
    const listed = uninterpretable.slice(0, DETAIL_LINES);
    const items = listed.map((i) => md(humanise(i.reason, decision, ctx)));
    lines.push(`**${md(t.labels.uninterpretable)}:**`, '', ...boundedLines(items, weight(uninterpretable) - listed.length, ctx), '');
  }
  const notUsed = weight(decision.inputs.filter((i) => i.use !== 'used' && i.use !== 'uninterpretable' && i.kind !== 'patient'));
  if (notUsed > 0) lines.push(fill(t.notUsed, { ...ctx.values, count: formattersFor(t.locale, ctx.displayTimeZone).number.format(notUsed) }, escapeValue), '');

  const defaults = [...new Set(decision.assays.filter((a) => a.source === 'catalogue-default').map((a) => a.assayName))];
  if (defaults.length > 0) {
    const assays = formattersFor(t.locale, ctx.displayTimeZone).list.format(defaults);
    lines.push(fill(t.assayAssumed, { ...ctx.values, assays }, escapeValue), '');
  }
  lines.push(fill(t.evidence, ctx.values, escapeValue));
  const count = (n: number): string => formattersFor(t.locale, ctx.displayTimeZone).number.format(n);
  return bounded(lines.join('\n'), (cut) => `${fill(t.more, { ...ctx.values, count: count(cut) }, escapeValue)}\n\n${fill(t.evidence, ctx.values, escapeValue)}`);
}
