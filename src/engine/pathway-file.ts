/**
 * The shape of a pathway file (pathways/*.json; pathway.schema.json is the same shape as JSON Schema).
 * Types only: compilePathway (pathway.ts) checks and compiles a file of this shape.
 */
import type { TopLevelCondition } from 'json-rules-engine';
import type { EcgMeaning, Indicator, MissingItem, OutcomeCode } from './types.js';
import type { SampleWindowSetting, SerialSection } from './serial-pathway.js';

export type Scalar = string | number | boolean | null;

/** The facts the engine can derive; a pathway declares the ones its graph uses. */
export type GraphFactName = 'ecgFinding' | 'raisedMarker' | 'timiScore' | 'baselinePosition' | 'baselineAssay' | 'troponinReading' | 'incomparableResult';
/** The qualitative facts of one baseline/later pair, for the classification table. */
export type CellFactName = 'baselineVsLimit' | 'laterVsLimit' | 'direction' | 'changeReachesThreshold';

export interface PathwayFile {
  readonly id: string;
  readonly version: string;
  readonly title: string;
  readonly description: string;
  readonly contract?: string;
  readonly evidence: readonly { readonly id: string; readonly citation: string; readonly url?: string }[];
  /** The evidence (ids of `evidence`) for each clinical threshold of the file, by JSON pointer (pathway-checks.ts). */
  readonly thresholdSources: Readonly<Record<string, readonly string[]>>;
  /** What each item the pathway can find missing is called in its decision summary and trace. */
  readonly missingItems: Readonly<Partial<Record<MissingItem, string>>>;
  readonly settings: {
    readonly episodeWindowHours: number;
    readonly futureToleranceMinutes: number;
    /** Chart 2's retest and relative change (required with `classification`). */
    readonly retestIntervalMinutes?: number;
    readonly retestEarlyToleranceMinutes?: number;
    readonly changeThresholdPercent?: string;
    /** Sample-window pathways (required with `serial`): serial-pathway.ts. */
    readonly windows?: readonly SampleWindowSetting[];
    readonly thirdSampleMinutes?: number;
    readonly singleSampleOnsetMinutes?: number;
    readonly earlyPresenterMinutes?: number;
    /** Rule 16: more troponin results than this in an episode is indeterminate, and they are summarised. */
    readonly maxTroponinResults: number;
    /** Rule 16: what a person reads then. */
    readonly maxTroponinResultsText: string;
  };
  readonly inputs: {
    readonly productSystem: string;
    readonly ecg: {
      readonly codes: readonly { readonly system: string; readonly code: string }[];
      readonly values: readonly { readonly system: string; readonly code: string; readonly meaning: EcgMeaning }[];
    };
    /** Absent: the pathway uses no TIMI score. */
    readonly timi?: { readonly codes: readonly { readonly system: string; readonly code: string }[]; readonly min: number; readonly max: number };
    /** The chest-pain onset observation (esc-0h1h-0h2h.md section 6), for pathways that read it. */
    readonly onset?: { readonly codes: readonly { readonly system: string; readonly code: string }[] };
    /** The Patient, for pathways whose thresholds are intrinsically sex-specific (high-steacs.md rule 6). */
    readonly patient?: { readonly gender: true };
  };
  readonly severity: readonly OutcomeCode[];
  readonly outcomes: Readonly<
    Partial<Record<
      OutcomeCode,
      {
        readonly label: string;
        readonly indicator: Indicator;
        /** The decision's summary, unless a variant gives another. */
        readonly advice: string;
        /** The indicator and summary under conditions (wording.ts): for each, the first variant that holds and gives it. */
        readonly variants?: readonly OutcomeVariant[];
      }
    >>
  >;
  readonly facts: Readonly<Partial<Record<GraphFactName, { readonly rule: string; readonly description: string; readonly domain: readonly Scalar[] }>>>;
  readonly graph: {
    readonly start: string;
    readonly nodes: readonly GraphNode[];
    readonly edges: readonly GraphEdge[];
  };
  readonly assembly: {
    readonly rule: string;
    readonly needsInputOutcome: OutcomeCode;
    readonly independentReadings: readonly { readonly fact: GraphFactName; readonly counts: readonly OutcomeCode[]; readonly text: string }[];
  };
  /** Chart 2's classification of a baseline and a retest; a pathway has it or `serial`. */
  readonly classification?: {
    readonly rule: string;
    readonly description: string;
    readonly boundary: { readonly baselineVsLimit?: { readonly at?: readonly ('below' | 'above')[] }; readonly laterVsLimit?: { readonly at?: readonly ('below' | 'above')[] } };
    readonly rules: readonly { readonly id: string; readonly outcome: OutcomeCode; readonly text: string; readonly conditions: TopLevelCondition }[];
    readonly otherwise: { readonly id: string; readonly outcome: OutcomeCode; readonly text: string };
    /** Rule 8: the outcomes a result drawn before the retest time counts with (it can only escalate). */
    readonly earlyResultCounts: readonly OutcomeCode[];
  };
  /** The 0 h sample, later samples in and out of the timing windows, read against catalogue cut-offs. */
  readonly serial?: SerialSection;
}

/** What an outcome's variant can test: the decision's retest time, and the facts of its reading. */
export type WordingCondition = 'retestDue' | 'retestOverdue' | 'missing' | 'baselineAboveLimit';

export interface OutcomeVariant {
  readonly when: Readonly<Partial<Record<WordingCondition, boolean>>>;
  readonly indicator?: Indicator;
  /** A template: the settings' placeholders, and {retestDue} / {missing} where `when` provides them. */
  readonly summary?: string;
}

export interface GraphNode {
  readonly id: string;
  readonly kind: 'start' | 'decision' | 'outcome';
  readonly label: string;
  readonly rule?: string;
  readonly outcome?: OutcomeCode;
  readonly silent?: string;
}

export interface GraphEdge {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly label: string;
  readonly needsInput?: MissingItem;
  readonly silent?: string;
  readonly conditions: TopLevelCondition;
}
