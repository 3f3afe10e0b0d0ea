/**
 * The engine's vocabulary. Facts go in (made from FHIR by src/fhir/mapping.ts), a Decision comes out.
 * Nothing here knows HTTP, FHIR clients, clocks, stores or the environment.
 */
import type { Big } from 'big.js';

/** Nanoseconds since the Unix epoch, UTC. Exact: no floating point on clinical time boundaries. */
export type Instant = bigint;

/** Outcome codes (clinical contract, section 3). Stable: they appear in cards, audit, API and console. */
export type OutcomeCode =
  | 'acute-mi-pathway'
  | 'consistent-with-mi'
  | 'indeterminate'
  | 'needs-input'
  | 'awaiting-retest'
  | 'not-consistent-with-mi'
  | 'low-risk-pathway'
  /** The rule-in / observe / rule-out algorithms (esc-0h1h-0h2h.md, high-steacs.md, section 3). */
  | 'rule-in'
  | 'observe'
  | 'rule-out';

export type Indicator = 'info' | 'warning' | 'critical';

/** Observation status as rule 12 sorts it. */
export type StatusUse = 'used' | 'listed' | 'void' | 'invalid';

/** A censored or exact measured value in ng/L, before the LoD rule (rule 11) is applied. */
export interface MeasuredRange {
  readonly kind: 'range';
  /** Lower bound in ng/L (0 for `<x`). */
  readonly lo: Big;
  readonly loOpen: boolean;
  /** Upper bound in ng/L; null for `>x` and `>=x`. */
  readonly hi: Big | null;
  readonly hiOpen: boolean;
  /** As reported, for people: "<5 ng/L", "0.0132 ng/mL". */
  readonly reported: string;
  /** The comparator as reported, if any. */
  readonly comparator: '<' | '<=' | '>' | '>=' | null;
}

export type TroponinValue =
  | MeasuredRange
  /** The result says it has no value (dataAbsentReason): listed, not used (rule 13). */
  | { readonly kind: 'absent'; readonly reason: string }
  /** The result claims a value we cannot read: uninterpretable (rule 13). */
  | { readonly kind: 'unreadable'; readonly reason: string };

interface FactBase {
  /** Stable reference for people and the trace: "Observation/abc" or "input #3" when it has no id. */
  readonly ref: string;
  readonly status: StatusUse;
  /** The status as written (or null when absent). */
  readonly statusText: string | null;
  /** Draw time (effectiveDateTime / effectiveInstant / effectivePeriod.start), null when unreadable or absent. */
  readonly drawTime: Instant | null;
  /** Why the draw time is null, when the resource carried something. */
  readonly drawTimeProblem: string | null;
  readonly issued: Instant | null;
  /** Encounter id (the last segment of the reference), or null when none is named. */
  readonly encounterId: string | null;
  /** Identity keys for rule 12 de-duplication: "identifier|system|value" and "id|Observation/abc". */
  readonly identities: readonly string[];
  /** meta.lastUpdated, else issued: orders versions of one result (rule 12). */
  readonly versionTime: Instant | null;
  /** A canonical digest of the clinical content, to tell identical copies from conflicting versions. */
  readonly contentKey: () => string;
  /** Rule 12: a non-final result read as if final in one reading of the data: its status as written. */
  readonly readAsFinal?: string;
}

export interface TroponinFact extends FactBase {
  readonly kind: 'troponin';
  /** The catalogue assay id, or null when the codings map to two assays (assayProblem says why). */
  readonly assayId: string | null;
  readonly assayProblem: string | null;
  /** How the assay was found: the site's own mapping, or the catalogue's default code. */
  readonly assaySource: 'site-mapping' | 'catalogue-default' | null;
  readonly value: TroponinValue;
}

export type EcgMeaning = 'stemi-or-new-lbbb' | 'no-stemi-or-new-lbbb' | 'lbbb-age-unknown';

export interface EcgFact extends FactBase {
  readonly kind: 'ecg';
  /** Every meaning its codings carry (rule 1: one ECG with several meanings counts as the most serious). */
  readonly meanings: readonly EcgMeaning[];
  /** Whether it carries the product's own classification (answers "is this LBBB new?"). */
  readonly productClassified: boolean;
  /** Why it is unusable, when its value could not be read. */
  readonly valueProblem: string | null;
}

export interface TimiFact extends FactBase {
  readonly kind: 'timi';
  /** 0 to 7, or null when unusable (valueProblem says why). */
  readonly score: number | null;
  readonly valueProblem: string | null;
}

/** The chest-pain onset as recorded (esc-0h1h-0h2h.md rule 4 and section 6). */
export type OnsetValue =
  /** `valueDateTime` (basis recorded) or a `valuePeriod`'s end (basis period-end): the latest time the pain can have begun. */
  | { readonly kind: 'time'; readonly time: Instant; readonly basis: 'recorded' | 'period-end'; readonly reported: string }
  /** Anything else: unusable, and why. */
  | { readonly kind: 'unusable'; readonly reason: string };

export interface OnsetFact extends FactBase {
  readonly kind: 'onset';
  readonly value: OnsetValue;
}

export type ObservationFact = TroponinFact | EcgFact | TimiFact | OnsetFact;

export type Sex = 'female' | 'male' | 'other' | 'unknown';

/** A resource that is not a pathway observation: listed in the trace, never silently dropped. */
export interface IgnoredInput {
  readonly ref: string;
  readonly reason: string;
  /** A Patient not read (rule 14) is no result: cards count only results not used. Default `other`. */
  readonly kind?: 'patient' | 'other';
}

export interface Facts {
  readonly observations: readonly ObservationFact[];
  /** From Patient.gender; null when no Patient was given. */
  readonly sex: Sex | null;
  readonly ignored: readonly IgnoredInput[];
}

export type MissingItem = 'ecg' | 'ecg-lbbb-new' | 'timi' | 'baseline-troponin';

export interface Missing {
  readonly item: MissingItem;
  /** For people: what is missing or unusable, and why. */
  readonly text: string;
}

export interface TraceStep {
  /** The numbered rule of the clinical contract that this step applies ("0" to "16"). */
  readonly rule: string;
  /** The pathway node or classification rule id, when the step is one. */
  readonly node?: string;
  /** What was decided, in words a clinician can read. */
  readonly text: string;
  /** The facts and values the step used. */
  readonly facts?: Readonly<Record<string, string | number | boolean | null>>;
  /** The branch or outcome the step took. */
  readonly result?: string;
}

export interface InputUse {
  readonly ref: string;
  readonly kind: 'troponin' | 'ecg' | 'timi' | 'onset' | 'patient' | 'other';
  readonly use:
    | 'used'
    | 'not-used'
    | 'uninterpretable'
    | 'void'
    | 'superseded'
    | 'outside-episode'
    | 'other-encounter'
    | 'ignored';
  readonly reason: string;
  /** Present on an entry that stands for several resources not listed one by one (rule 16 bounds): how many. */
  readonly count?: number;
}

export interface ResultSummary {
  readonly ref: string;
  readonly assay: string;
  readonly drawTime: string;
  /** As reported. */
  readonly reported: string;
  /** In ng/L after units and LoD: "13.2", "<20" style ranges are written "5 to <20". */
  readonly valueNgL: string;
  /** URL used for this result (ng/L), where the pathway uses the assay's URL (rule 14); absent where it does not (ESC, High-STEACS). */
  readonly url?: string;
}

export interface LaterResultSummary extends ResultSummary {
  /** Minutes after the baseline draw. */
  readonly minutesAfterBaseline: string;
  readonly role: 'retest' | 'early' | 'other-assay';
  /** Relative change from the baseline as a percentage, exact, when both are point values. */
  readonly changePercent: string | null;
  readonly outcome: OutcomeCode | null;
  readonly classificationRule: string | null;
}

export interface PathwayIdentity {
  readonly id: string;
  readonly version: string;
  readonly sha256: string;
  readonly catalogueSha256: string;
  readonly settingsSha256: string;
}

export interface AssayAssumption {
  readonly result: string;
  readonly assay: string;
  readonly assayName: string;
  readonly source: 'site-mapping' | 'catalogue-default';
  /** Present on an entry that stands for several results not listed one by one: how many. */
  readonly count?: number;
}

/** Rule 16: the troponin results of an episode summarised (always given; the only account over the bound). */
export interface TroponinSummary {
  /** Troponin results in the episode (exact duplicates counted once). */
  readonly results: number;
  /** The pathway file's `maxTroponinResults`. */
  readonly max: number;
  /** True when there are more results than the pathway weighs (rule 16): indeterminate at least. */
  readonly overMax: boolean;
  readonly usable: number;
  readonly uninterpretable: number;
  /** Exact duplicates counted once (rule 16). */
  readonly duplicates: number;
  /** Of the usable results: the earliest, the latest and the highest (by value). */
  readonly first: ResultSummary | null;
  readonly last: ResultSummary | null;
  readonly highest: ResultSummary | null;
}

export interface Decision {
  readonly outcome: OutcomeCode;
  readonly indicator: Indicator;
  /** One plain sentence, under 140 characters. */
  readonly summary: string;
  readonly reasons: readonly string[];
  /** What a needs-input lists (rule 0), as codes, in the order the chart consults them. */
  readonly missing: readonly MissingItem[];
  /** The same, with what exactly is missing or unusable, for people. */
  readonly missingDetails: readonly Missing[];
  /** ISO 8601 UTC, whenever the episode has a baseline and no retest yet (section 7). */
  readonly retestDue?: string;
  readonly retestOverdue?: boolean;
  /** The evaluation time, ISO 8601 UTC. */
  readonly evaluatedAt: string;
  readonly pathway: PathwayIdentity;
  readonly assays: readonly AssayAssumption[];
  /** Graph nodes visited by the chart's walk, in order, and the edges taken (for the console). */
  readonly path: { readonly nodes: readonly string[]; readonly edges: readonly string[] };
  readonly troponin: {
    readonly baseline: ResultSummary | null;
    readonly later: readonly LaterResultSummary[];
    /** Rule 16: counts, first, last and highest. Over the bound `later` lists none and this is the account. */
    readonly summary?: TroponinSummary;
  };
  readonly inputs: readonly InputUse[];
  readonly trace: readonly TraceStep[];
  /** Pathways that read the chest-pain onset: the onset rule 4 used (esc-0h1h-0h2h.md section 7). */
  readonly onset?: { readonly time: string | null; readonly basis: 'recorded' | 'period-end' | 'unknown' };
  /** Pathways with catalogue cut-off tables: each table used, with its values and its source. */
  readonly cutoffs?: readonly CutoffTableUse[];
  /** Pathways with sex-specific thresholds: the threshold used and why (high-steacs.md section 7). */
  readonly threshold?: { readonly url99: string; readonly basis: 'female' | 'male' | 'sex-unknown' };
}

export interface CutoffTableUse {
  /** The catalogue table's name (`esc0h1h`, `esc0h2h`, `highSteacs`). */
  readonly table: string;
  readonly assay: string;
  /** Field name -> exact decimal string, ng/L. */
  readonly values: Readonly<Record<string, string>>;
  readonly source: string;
}
