/**
 * Bounds on what a decision lists, so that its trace, its `inputs`, its reasons (and so the card and
 * the audit record built from it) stay small whatever the input (rule 16: "the trace and card
 * summarise them instead of listing each").
 *
 * Nothing is silently dropped: past a bound, items are counted, with the first few named and the
 * counts per kind of use and reason, so every resource is still accounted for.
 */
import type { InputUse, TraceStep } from './types.js';

/** Entries listed one by one per (kind, use) in `inputs`, and steps per kind of repeated step in the trace. */
export const LIST_BOUND = 20;
/** References named in one sentence before the rest are counted ("a, b, c and 1,234 more"). */
export const NAMES_IN_TEXT = 5;
/** Longest text taken from the data (a status, an id, a reason) in one trace step or input entry. */
export const TEXT_BOUND = 400;
/** Longest reference to a resource. */
export const REF_BOUND = 120;
/** Distinct reasons counted per summary; further ones are counted together. */
const REASONS_COUNTED = 5;

/** A count for people: 12345 -> "12,345" (fixed grouping, whatever the host's locale: rule 15). */
export function count(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** The text cut to `max` characters, marked when cut. */
export function clip(text: string, max = TEXT_BOUND): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A trace step with its text and the strings among its facts clipped (they may come from the data). */
export function clipStep(s: TraceStep): TraceStep {
  const facts = s.facts;
  let long = false;
  if (facts !== undefined) for (const k in facts) if (typeof facts[k] === 'string' && facts[k].length > TEXT_BOUND) long = true;
  // Already within bounds (nearly every step): the step is its own final form.
  if (!long && s.text.length <= 2 * TEXT_BOUND) return s;
  const clipped = facts === undefined || !long ? facts : Object.fromEntries(Object.entries(facts).map(([k, v]) => [k, typeof v === 'string' ? clip(v) : v]));
  return { ...s, text: clip(s.text, 2 * TEXT_BOUND), ...(clipped === undefined ? {} : { facts: clipped }) };
}

/** "a, b, c" or "a, b, c, d, e and 1,234 more". */
export function listText(items: readonly string[], max = NAMES_IN_TEXT, sep = ', '): string {
  return listTextOf(items, (x) => x, max, sep);
}

/** {@link listText} of `items.map(show)`, with `show` called only for the items named. */
export function listTextOf<T>(items: readonly T[], show: (item: T) => string, max = NAMES_IN_TEXT, sep = ', '): string {
  const named = items.length <= max ? items : items.slice(0, max);
  const text = named.map(show).join(sep);
  return items.length <= max ? text : `${text} and ${count(items.length - max)} more`;
}

interface Overflow {
  kind: InputUse['kind'];
  use: InputUse['use'];
  total: number;
  first: string[];
  reasons: Map<string, number>;
  otherReasons: number;
}

/**
 * The `inputs` list: one entry per resource (the first use recorded stands), the first
 * {@link LIST_BOUND} of each (kind, use) listed, the rest counted in one entry per (kind, use).
 */
export class BoundedInputs {
  private readonly listed: InputUse[] = [];
  private readonly seen = new Set<string>();
  /** Per kind, per use: how many were added (looked up by two keys, with no key text made per entry). */
  private readonly perGroup = new Map<InputUse['kind'], Map<InputUse['use'], { n: number }>>();
  /** In the order the groups first went past the bound. */
  private readonly overflow: Overflow[] = [];
  private readonly overflowOf = new Map<{ n: number }, Overflow>();

  constructor(private readonly limit: number = LIST_BOUND) {}

  add(ref: string, kind: InputUse['kind'], use: InputUse['use'], reason: string): void {
    if (this.seen.has(ref)) return;
    this.seen.add(ref);
    let uses = this.perGroup.get(kind);
    if (uses === undefined) {
      uses = new Map();
      this.perGroup.set(kind, uses);
    }
    let group = uses.get(use);
    if (group === undefined) {
      group = { n: 0 };
      uses.set(use, group);
    }
    group.n += 1;
    if (group.n <= this.limit) {
      this.listed.push({ ref: clip(ref, REF_BOUND), kind, use, reason: clip(reason) });
      return;
    }
    let o = this.overflowOf.get(group);
    if (o === undefined) {
      o = { kind, use, total: 0, first: [], reasons: new Map(), otherReasons: 0 };
      this.overflowOf.set(group, o);
      this.overflow.push(o);
    }
    o.total += 1;
    if (o.first.length < NAMES_IN_TEXT) o.first.push(clip(ref, REF_BOUND));
    const r = clip(reason, 160);
    const c = o.reasons.get(r);
    if (c !== undefined) o.reasons.set(r, c + 1);
    else if (o.reasons.size < REASONS_COUNTED) o.reasons.set(r, 1);
    else o.otherReasons += 1;
  }

  /** The listed entries, then one summary entry per (kind, use) that went past the bound. */
  list(): InputUse[] {
    const out = [...this.listed];
    for (const o of this.overflow) {
      const reasons = [...o.reasons.entries()].map(([r, c]) => `${count(c)} × ${r}`);
      if (o.otherReasons > 0) reasons.push(`${count(o.otherReasons)} × other reasons`);
      out.push({
        ref: `${count(o.total)} more ${o.kind} resources (${o.use})`,
        kind: o.kind,
        use: o.use,
        reason: `not listed one by one (more than ${this.limit} ${o.use}); the first: ${o.first.join(', ')}; why: ${reasons.join('; ')}`,
        count: o.total,
      });
    }
    return out;
  }
}

/**
 * A list in order (trace steps, reasons) where an item given a group is listed for the first `limit` of
 * its group, and the rest are counted in one item placed where the first unlisted one would have been.
 */
export class BoundedList<T> {
  private readonly items: (T | { readonly overflow: string })[] = [];
  private readonly groups = new Map<string, { n: number; first: T; refs: string[] }>();

  constructor(
    private readonly summarise: (more: number, first: T, refs: readonly string[]) => T,
    private readonly limit: number = LIST_BOUND,
  ) {}

  add(item: T, group?: { readonly key: string; readonly ref?: string }): void {
    if (group === undefined) {
      this.items.push(item);
      return;
    }
    let g = this.groups.get(group.key);
    if (g === undefined) {
      g = { n: 0, first: item, refs: [] };
      this.groups.set(group.key, g);
    }
    g.n += 1;
    if (g.n <= this.limit) this.items.push(item);
    else {
      if (g.n === this.limit + 1) this.items.push({ overflow: group.key });
      if (group.ref !== undefined && g.refs.length < NAMES_IN_TEXT) g.refs.push(clip(group.ref, REF_BOUND));
    }
  }

  list(): T[] {
    return this.items.map((x) => {
      if (typeof x !== 'object' || x === null || !('overflow' in x)) return x;
      const g = this.groups.get(x.overflow) as { n: number; first: T; refs: string[] };
      return this.summarise(g.n - this.limit, g.first, g.refs);
    });
  }
}

const refsText = (refs: readonly string[]): string => (refs.length === 0 ? '' : ` (the first of them: ${refs.join(', ')})`);

/** The trace, bounded: steps clipped, repeated steps past the bound counted in one step of the same rule. */
export function boundedTrace(limit = LIST_BOUND): BoundedList<TraceStep> {
  return new BoundedList<TraceStep>(
    (more, first, refs) => ({
      rule: first.rule,
      text: `${count(more)} more steps like the ${limit} above (rule ${first.rule}), not listed one by one${refsText(refs)}; the inputs list accounts for every resource.`,
      facts: { notListed: more },
    }),
    limit,
  );
}

/** The reasons, bounded likewise. */
export function boundedReasons(limit = LIST_BOUND): BoundedList<string> {
  return new BoundedList<string>((more, _first, refs) => `${count(more)} more reasons like the ${limit} above, not listed one by one${refsText(refs)}.`, limit);
}
