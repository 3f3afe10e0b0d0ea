/**
 * The card's Markdown `detail` (GitHub-Flavored Markdown): the values, draw times, the URL used, the
 * change, the branch taken, what is missing and what could not be interpreted. Text from the data is
 * escaped. Bounded whatever the input (rule 16): each list shows its first lines and counts the rest,
 * and the whole stays under {@link MAX_DETAIL_BYTES}.
 */
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision, InputUse } from '../engine/types.js';
import { type CardContext, fullLocalTime, md, outcomeLabel } from './cards.js';

/** The detail stays under 32 kB whatever the input (rule 16); past it, it is cut with a note. */
export const MAX_DETAIL_BYTES = 32 * 1024;
/** Lines listed per section of the detail (results not used, uninterpretable, reasons); the rest are counted. */
export const DETAIL_LINES = 12;

/** The chart's branches taken, as "ECG: No ST-elevation or new LBBB → TIMI score: TIMI > 1 → ...". */
function branchTaken(decision: Decision, runtime: PathwayRuntime | undefined): string | null {
  if (runtime === undefined) return decision.path.edges.length === 0 ? null : decision.path.edges.join(' → ');
  const file = runtime.pathway.file;
  const steps: string[] = [];
  for (const edgeId of decision.path.edges) {
    const edge = file.graph.edges.find((e) => e.id === edgeId);
    if (edge === undefined || edge.label === '') continue;
    const from = file.graph.nodes.find((n) => n.id === edge.from);
    steps.push(`${from?.label ?? edge.from}: ${edge.label}`);
  }
  const last = decision.path.nodes[decision.path.nodes.length - 1];
  const end = last === undefined ? undefined : file.graph.nodes.find((n) => n.id === last);
  if (end !== undefined && end.kind === 'outcome') steps.push(end.label);
  return steps.length === 0 ? null : steps.join(' → ');
}

/** A count for people, grouped by thousands whatever the locale. */
function count(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** The first {@link DETAIL_LINES} entries, then one line counting the resources of the rest (never silently dropped). */
function inputLines(entries: readonly InputUse[], line: (i: InputUse) => string): string[] {
  const out = entries.slice(0, DETAIL_LINES).map(line);
  const rest = entries.slice(DETAIL_LINES).reduce((n, i) => n + (i.count ?? 1), 0);
  if (rest > 0) out.push(`- … and ${count(rest)} more (listed in the audit record and the decision's inputs)`);
  return out;
}

/** The detail under {@link MAX_DETAIL_BYTES}: cut at a line, with a note, should it ever reach it. */
export function bounded(detail: string): string {
  if (Buffer.byteLength(detail) < MAX_DETAIL_BYTES) return detail;
  const note = '\n\n… the rest of the detail is cut (too long for a card): see the audit record.';
  let cut = detail.slice(0, MAX_DETAIL_BYTES / 2);
  while (Buffer.byteLength(cut) + Buffer.byteLength(note) >= MAX_DETAIL_BYTES) cut = cut.slice(0, Math.floor(cut.length * 0.9));
  return `${cut.slice(0, Math.max(0, cut.lastIndexOf('\n')))}${note}`;
}

export function detailFor(decision: Decision, ctx: CardContext): string {
  const tz = ctx.displayTimeZone;
  const rt = ctx.runtime;
  const lines: string[] = [];
  const label = outcomeLabel(decision.outcome, rt);
  const advice = rt?.pathway.file.outcomes[decision.outcome]?.advice;
  lines.push(`**${md(label)}** (\`${decision.outcome}\`)${advice !== undefined && advice !== label ? `: ${md(advice)}` : ''}`, '');

  if (decision.retestDue !== undefined) {
    lines.push(
      `**Retest ${decision.retestOverdue === true ? 'overdue, was due' : 'due'}:** ${fullLocalTime(decision.retestDue, tz)} (${md(tz)}); ${decision.retestDue} UTC (baseline draw + 3 h).`,
      '',
    );
  }

  const { baseline, later, summary } = decision.troponin;
  const names = new Map(decision.assays.map((a) => [a.assay, a.assayName]));
  const nameOf = (id: string): string => names.get(id) ?? id;
  if (summary?.overMax === true) {
    const notice = rt?.pathway.file.settings.maxTroponinResultsText;
    const one = (label: string, r: typeof summary.first): string =>
      r === null ? `- ${label}: none usable` : `- ${label}: ${md(r.ref)}, ${md(r.reported)} (${md(r.valueNgL)} ng/L, URL ${md(r.url)}), drawn ${fullLocalTime(r.drawTime, tz)}`;
    lines.push(
      `**${count(summary.results)} troponin results in this episode**, more than the ${summary.max} the pathway weighs${notice === undefined ? '' : `: ${md(notice)}`} (rule 16). They are summarised, not listed: usable ${count(summary.usable)}, uninterpretable ${count(summary.uninterpretable)}${summary.duplicates > 0 ? `, exact duplicates counted once ${count(summary.duplicates)}` : ''}.`,
      '',
      one('First', summary.first),
      one('Last', summary.last),
      one('Highest', summary.highest),
      '',
    );
  }
  if (baseline !== null && summary?.overMax !== true) {
    lines.push('**Troponin results** (values in ng/L; the URL is the 99th percentile upper reference limit used):', '');
    lines.push(`| result | drawn (${md(tz)}) | reported | ng/L | URL | change from baseline | reading |`, '|---|---|---|---|---|---|---|');
    lines.push(`| Baseline | ${fullLocalTime(baseline.drawTime, tz)} | ${md(baseline.reported)} | ${md(baseline.valueNgL)} | ${md(baseline.url)} | | ${md(nameOf(baseline.assay))} |`);
    for (const l of later) {
      const role = l.role === 'retest' ? 'Retest' : l.role === 'early' ? 'Early result' : 'Other assay';
      const change = l.changePercent === null ? 'not computed' : `${md(l.changePercent)}%`;
      const reading = l.outcome === null ? (l.role === 'other-assay' ? 'different assay: not comparable' : 'noted') : `${l.outcome}${l.classificationRule === null ? '' : ` (${md(l.classificationRule)})`}`;
      lines.push(`| ${role} +${md(l.minutesAfterBaseline)} min | ${fullLocalTime(l.drawTime, tz)} | ${md(l.reported)} | ${md(l.valueNgL)} | ${md(l.url)} | ${change} | ${reading} |`);
    }
    lines.push('');
  }

  const branch = branchTaken(decision, rt);
  if (branch !== null) lines.push(`**Branch taken:** ${md(branch)}`, '');

  if (decision.missingDetails.length > 0) {
    lines.push('**Missing or unusable:**', '', ...decision.missingDetails.map((m) => `- ${md(m.text)}`), '');
  }

  const uninterpretable = decision.inputs.filter((i) => i.use === 'uninterpretable');
  if (uninterpretable.length > 0) {
    lines.push('**Uninterpretable results** (never silently dropped, rule 13):', '', ...inputLines(uninterpretable, (i) => `- ${md(i.ref)}: ${md(i.reason)}`), '');
  }
  const notUsed = decision.inputs.filter((i) => i.use !== 'used' && i.use !== 'uninterpretable' && i.kind !== 'patient');
  if (notUsed.length > 0) {
    lines.push('**Not used:**', '', ...inputLines(notUsed, (i) => `- ${md(i.ref)} (${i.use}): ${md(i.reason)}`), '');
  }

  if (decision.reasons.length > 0) {
    const shown = decision.reasons.slice(0, DETAIL_LINES).map((r) => `- ${md(r)}`);
    if (decision.reasons.length > DETAIL_LINES) shown.push(`- … and ${count(decision.reasons.length - DETAIL_LINES)} more (see the audit record)`);
    lines.push('**Why:**', '', ...shown, '');
  }

  const defaults = decision.assays.filter((a) => a.source === 'catalogue-default');
  if (defaults.length > 0) {
    const assumed = [...new Set(defaults.map((a) => a.assayName))];
    lines.push(`**Assay assumed:** ${assumed.map(md).join('; ')}, from the catalogue's default codes: this site has not mapped its laboratory's codes to assays. Check the assay is right.`, '');
  }

  if (rt !== undefined && rt.pathway.file.evidence.length > 0) {
    lines.push('**Evidence:**', '', ...rt.pathway.file.evidence.map((e) => `- ${e.url === undefined ? md(e.citation) : `[${md(e.citation)}](${e.url})`}`), '');
  }
  const p = decision.pathway;
  lines.push(`Pathway \`${p.id}\` ${md(p.version)} (sha256 \`${p.sha256.slice(0, 12)}\`), evaluated ${decision.evaluatedAt} UTC.`);
  return bounded(lines.join('\n'));
}

