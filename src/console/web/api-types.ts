/**
 * The console API's JSON shapes, shared by the server (src/console/*.ts) and the page (src/console/web/).
 * Types only: nothing here touches the DOM or Node. The server's own types (Decision, CdsCard, the
 * pathway file) are checked against these at compile time in src/console/api.ts, so the two cannot drift.
 */

export type OutcomeCode =
  | 'acute-mi-pathway'
  | 'consistent-with-mi'
  | 'indeterminate'
  | 'needs-input'
  | 'awaiting-retest'
  | 'not-consistent-with-mi'
  | 'low-risk-pathway'
  | 'rule-in'
  | 'observe'
  | 'rule-out';

export type Indicator = 'info' | 'warning' | 'critical';

export type FactValue = string | number | boolean | null;

export interface TraceStepView {
  readonly rule: string;
  readonly node?: string;
  readonly text: string;
  readonly facts?: Readonly<Record<string, FactValue>>;
  readonly result?: string;
}

export interface ResultView {
  readonly ref: string;
  readonly assay: string;
  readonly drawTime: string;
  readonly reported: string;
  readonly valueNgL: string;
  readonly url?: string;
}

export interface LaterResultView extends ResultView {
  readonly minutesAfterBaseline: string;
  readonly role: 'retest' | 'early' | 'other-assay';
  readonly changePercent: string | null;
  readonly outcome: OutcomeCode | null;
  readonly classificationRule: string | null;
}

export interface DecisionView {
  readonly outcome: OutcomeCode;
  readonly indicator: Indicator;
  readonly summary: string;
  readonly reasons: readonly string[];
  readonly missing: readonly string[];
  readonly missingDetails: readonly { readonly item: string; readonly text: string }[];
  readonly retestDue?: string;
  readonly retestOverdue?: boolean;
  readonly evaluatedAt: string;
  readonly pathway: {
    readonly id: string;
    readonly version: string;
    readonly sha256: string;
    readonly catalogueSha256: string;
    readonly settingsSha256: string;
  };
  readonly assays: readonly { readonly result: string; readonly assay: string; readonly assayName: string; readonly source: string }[];
  readonly path: { readonly nodes: readonly string[]; readonly edges: readonly string[] };
  readonly troponin: { readonly baseline: ResultView | null; readonly later: readonly LaterResultView[] };
  readonly inputs: readonly { readonly ref: string; readonly kind: string; readonly use: string; readonly reason: string }[];
  readonly trace: readonly TraceStepView[];
}

/** A CDS Hooks 2.0 card as the service returns it (the fields the console shows). */
export interface CardView {
  readonly uuid?: string;
  readonly summary: string;
  readonly detail?: string;
  readonly indicator: Indicator;
  readonly source: { readonly label: string; readonly url?: string; readonly topic?: unknown };
  readonly suggestions?: readonly {
    readonly label: string;
    readonly uuid?: string;
    readonly isRecommended?: boolean;
    readonly actions?: readonly { readonly type: string; readonly description: string; readonly resource?: unknown }[];
  }[];
  readonly selectionBehavior?: string;
  readonly overrideReasons?: readonly { readonly code?: string; readonly system?: string; readonly display?: string }[];
  readonly links?: readonly { readonly label: string; readonly url: string; readonly type: string; readonly appContext?: string }[];
  readonly extension?: Readonly<Record<string, unknown>>;
}

/** What the console evaluated with: the site's settings, or the site's with a fixture's override. */
export interface SettingsUsed {
  readonly sexSpecificUrls: boolean;
  readonly source: 'site' | 'request';
}

export interface EvaluateResponse {
  readonly decision: DecisionView;
  readonly cards: readonly CardView[];
  /** Per graph node on the path: the values the decision used there, for the chart. */
  readonly annotations: Readonly<Record<string, readonly string[]>>;
  readonly settings: SettingsUsed;
  /** The resources evaluated (after a case link is decoded), so the page can show and export them. */
  readonly resources: readonly unknown[];
  readonly now: string;
  readonly encounter: string | null;
  /** For a case from a card's link: whether this service signed it, and what it left out. */
  readonly caseLink?: CaseLinkView;
}

/** What the service says of a case link (docs/console.md, "Case links"). */
export interface CaseLinkView {
  /** True only when the link was signed with this service's key: "from a card of this service". */
  readonly verified: boolean;
  /** Why it is not verified: no signature (or an older, unsigned link), or one that does not match. */
  readonly problem: 'no-signature' | 'bad-signature' | null;
  /** The outcome of the card the link was made from, as the link says (trust it only when verified). */
  readonly cardOutcome: OutcomeCode | null;
  /** Present when the link keeps only part of the observations: the evaluation may differ from the card's. */
  readonly summary: {
    readonly observations: number;
    readonly kept: number;
    readonly dropped: { readonly troponin: number; readonly ecg: number; readonly timi: number; readonly onset?: number };
  } | null;
}

export interface GraphNodeView {
  readonly id: string;
  readonly kind: 'start' | 'decision' | 'outcome';
  readonly label: string;
  readonly rule?: string;
  readonly outcome?: OutcomeCode;
  readonly silent?: string;
}

export interface GraphEdgeView {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly label: string;
  readonly needsInput?: string;
  readonly silent?: string;
  readonly conditions: unknown;
}

export interface OutcomeMeta {
  readonly label: string;
  readonly indicator: Indicator;
  readonly advice: string;
  /** The indicator and summary under conditions: the first variant that holds and gives each. */
  readonly variants?: readonly { readonly when: Readonly<Record<string, boolean>>; readonly indicator?: Indicator; readonly summary?: string }[];
}

export interface PathwayFileView {
  readonly id: string;
  readonly version: string;
  readonly title: string;
  readonly description: string;
  readonly settings: {
    readonly episodeWindowHours: number;
    readonly futureToleranceMinutes: number;
    readonly retestIntervalMinutes?: number;
    readonly retestEarlyToleranceMinutes?: number;
    readonly changeThresholdPercent?: string;
  };
  readonly severity: readonly OutcomeCode[];
  readonly outcomes: Readonly<Partial<Record<OutcomeCode, OutcomeMeta>>>;
  readonly graph: { readonly start: string; readonly nodes: readonly GraphNodeView[]; readonly edges: readonly GraphEdgeView[] };
  /** Chart 2's classification table (absent on pathways that read samples in timing windows). */
  readonly classification?: {
    readonly rule: string;
    readonly description: string;
    readonly rules: readonly { readonly id: string; readonly outcome: OutcomeCode; readonly text: string }[];
    readonly otherwise: { readonly id: string; readonly outcome: OutcomeCode; readonly text: string };
  };
  readonly evidence: readonly { readonly id: string; readonly citation: string; readonly url?: string }[];
  /** The observations the pathway reads: the form shows the chest-pain onset and the TIMI score only when `onset` and `timi` are present. */
  readonly inputs: {
    readonly onset?: { readonly codes: readonly { readonly system: string; readonly code: string }[] };
    readonly timi?: { readonly codes: readonly { readonly system: string; readonly code: string }[] };
  };
  /** Serial pathways (ESC, High-STEACS): what the card says of an unknown onset and when it would matter (the form's help). */
  readonly serial?: { readonly text: { readonly onsetUnknown: string; readonly onsetWouldMatter: string } };
  /** The card's wording (the console's form names missing fields in the same words). */
  readonly cards?: {
    readonly missingItems?: Readonly<Record<string, string>>;
    readonly text?: { readonly missing?: string };
  };
}

export interface AssayView {
  readonly id: string;
  readonly name: string;
  readonly analyte: 'T' | 'I';
  readonly codings: readonly { readonly system: string; readonly code: string }[];
  readonly url99: { readonly overall: string; readonly female?: string; readonly male?: string };
  readonly lod: string;
}

export interface PathwayResponse {
  readonly pathway: PathwayFileView;
  readonly identity: DecisionView['pathway'];
  readonly assays: readonly AssayView[];
  /** The codes the page's case form writes (from the pathway file's inputs). */
  readonly codes: {
    readonly productSystem: string;
    readonly ecgCode: { readonly system: string; readonly code: string };
  };
  readonly sexSpecificUrls: boolean;
  readonly displayTimeZone: string;
  /** The service's clock when the page asked (the form's default evaluation time): ISO 8601, UTC. */
  readonly now: string;
  /** The assay the site set as the form's default (settings `consoleDefaultAssay`), or null: none. */
  readonly consoleDefaultAssay: string | null;
  /** Where each rule of the clinical contract is written: `${rulesUrl}#rule-7`. */
  readonly rulesUrl: string;
}

export interface ExpectedView {
  readonly outcome: OutcomeCode;
  readonly missing: readonly string[];
  readonly retestDue?: string;
}

export interface FixtureSummary {
  readonly name: string;
  readonly description: string;
  readonly rules: readonly string[];
  readonly now: string;
  readonly encounter?: string;
  readonly settings?: { readonly sexSpecificUrls?: boolean };
  readonly expected: ExpectedView;
  /** null when the fixture could not be evaluated at all (differences says why). */
  readonly actual: (ExpectedView & { readonly indicator: Indicator; readonly summary: string }) | null;
  readonly pass: boolean;
  /** What differs between expected and actual, for people; empty when it passes. */
  readonly differences: readonly string[];
}

export interface FixturesResponse {
  readonly fixtures: readonly FixtureSummary[];
  readonly passed: number;
  readonly failed: number;
  /** What the fixtures are evaluated with. */
  readonly basis: string;
}

export interface FixtureResponse extends FixtureSummary {
  readonly bundle: unknown;
}

export interface MapRequest {
  readonly assay: string;
  /** ng/L, a decimal string or number. */
  readonly baseline: string | number;
  readonly timi: number;
  readonly sex?: 'female' | 'male' | 'other' | 'unknown';
}

export interface MapResponse {
  readonly assay: { readonly id: string; readonly name: string; readonly lod: string };
  readonly url: string;
  readonly baseline: string;
  readonly timi: number;
  readonly sex: string | null;
  readonly thresholdPercent: string;
  readonly retestIntervalMinutes: number;
  /** Reference values drawn as lines (ng/L). */
  readonly lines: { readonly url: string; readonly lod: string; readonly baseline: string; readonly fall: string; readonly rise: string };
  /** Outcome at each retest value, sorted by value; exact boundary values are included. */
  readonly retest: { readonly max: string; readonly samples: readonly { readonly value: string; readonly outcome: OutcomeCode }[] };
  /** outcomes[i][j]: baseline baselines[i], retest retests[j] (cell centres). */
  readonly grid: {
    readonly max: string;
    readonly step: string;
    readonly baselines: readonly string[];
    readonly retests: readonly string[];
    readonly outcomes: readonly (readonly OutcomeCode[])[];
  };
  readonly evaluations: number;
}

export interface OperationOutcomeView {
  readonly resourceType: 'OperationOutcome';
  readonly issue: readonly { readonly severity: string; readonly code: string; readonly details?: { readonly text: string }; readonly diagnostics?: string }[];
}
