/**
 * The shape of the de-identified case a card's console link carries (src/cds/case-link.ts makes it,
 * src/cds/case-link-codec.ts encodes and checks it, src/cds/case-resources.ts rebuilds resources from it).
 */
import type { OutcomeCode, Sex } from '../engine/types.js';

/** A time as minutes from the case's reference instant, or why it is not a time (date only, no zone, other). */
export type CaseTime = number | 'date-only' | 'no-zone' | 'invalid';

export interface CaseQuantity {
  readonly value?: number;
  readonly comparator?: string;
  readonly unit?: string;
  /** The unit system, only when it is not UCUM (a placeholder: absent means UCUM or none). */
  readonly system?: string;
  /** True when the quantity had a unit system of its own that was UCUM. */
  readonly ucum?: boolean;
  readonly code?: string;
}

export interface CaseObservation {
  /** The codings of Observation.code the pathway knows, as [system, code]. */
  readonly codes: readonly (readonly [string, string])[];
  readonly status?: string;
  /** Draw time (effectiveDateTime, effectiveInstant or effectivePeriod.start). */
  readonly t?: CaseTime;
  readonly issued?: CaseTime;
  /** meta.lastUpdated. */
  readonly updated?: CaseTime;
  /** `same`: names the encounter of the request; `other`: names another one. Absent: names none. */
  readonly enc?: 'same' | 'other';
  /** Observations sharing a group number are versions of one result (shared identifier or id). */
  readonly group?: number;
  /** An identical copy (same id and content) of the observation at this index of the case. */
  readonly copyOf?: number;
  readonly quantity?: CaseQuantity;
  readonly integer?: number;
  /** The ECG codings of valueCodeableConcept the pathway knows (empty: a concept it cannot read). */
  readonly concept?: readonly (readonly [string, string])[];
  /** dataAbsentReason code (or `unknown`). */
  readonly absent?: string;
  /** How many other value[x] elements it has (valueString, a malformed valueQuantity, ...). */
  readonly other?: number;
  /** A chest-pain onset's valueDateTime. */
  readonly dt?: CaseTime;
  /** A chest-pain onset's valuePeriod (its start and end; absent when the period has none). */
  readonly period?: { readonly start?: CaseTime; readonly end?: CaseTime };
}

/** What a summarised link left out (the link keeps the baseline and the most serious results). */
export interface CaseSummary {
  /** Observations the pathway reads in the evaluation. */
  readonly observations: number;
  /** Observations the link keeps. */
  readonly kept: number;
  readonly dropped: { readonly troponin: number; readonly ecg: number; readonly timi: number; readonly onset?: number };
}

export interface ConsoleCase {
  /** 1: unsigned links of earlier versions (read, never made); 2: signed links. */
  readonly v: 1 | 2;
  /** What the times are relative to: the baseline draw, or the evaluation time when there is no baseline. */
  readonly ref: 'baseline' | 'evaluation';
  /** The evaluation time, minutes from the reference. */
  readonly now: number;
  /** Whether the request named an encounter. */
  readonly encounter: boolean;
  /** Patient sex, only when it bears on the decision (sex-specific URLs, or a pathway that reads sex) and a Patient was given. */
  readonly sex?: Sex;
  /** The outcome of the card the link was made from (v2). */
  readonly outcome?: OutcomeCode;
  /** Present when the link keeps only part of the observations (v2). */
  readonly summary?: CaseSummary;
  readonly observations: readonly CaseObservation[];
}

/** One observation of the case with what the link's summary needs to rank it. */
export interface CaseEntry {
  readonly obs: CaseObservation;
  /** The reference the decision uses for it (its `inputs[].ref`). */
  readonly ref: string;
  readonly kind: 'troponin' | 'ecg' | 'timi' | 'onset';
}
