/**
 * CDS Hooks 2.0 wire types, pinned to CDS Hooks 2.0.1 (STU2). Field names are the spec's; optional
 * attributes are omitted rather than null or empty (CDS Hooks 2.0, "JSON values").
 *
 * @see {@link https://cds-hooks.hl7.org/2.0/ | CDS Hooks 2.0}
 */

/** Card indicator: `info`, `warning` or `critical` (2.0 renamed `hard-stop` to `critical`). */
export type CdsIndicator = 'info' | 'warning' | 'critical';

/** @see {@link https://cds-hooks.hl7.org/2.0/#coding | Coding} */
export interface CdsCoding {
  readonly system: string;
  readonly code: string;
  /** REQUIRED for override reasons. */
  readonly display?: string;
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#source | Source} */
export interface CdsSource {
  readonly label: string;
  /** Absolute URL about the source (not a drill-down into this decision). */
  readonly url?: string;
  readonly icon?: string;
  readonly topic?: CdsCoding;
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#action | Action} */
export interface CdsAction {
  readonly type: 'create' | 'update' | 'delete';
  readonly description: string;
  readonly resource?: Readonly<Record<string, unknown>>;
  readonly resourceId?: string;
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#suggestion | Suggestion} */
export interface CdsSuggestion {
  readonly label: string;
  readonly uuid?: string;
  readonly isRecommended?: boolean;
  readonly actions?: readonly CdsAction[];
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#link | Link} */
export interface CdsLink {
  readonly label: string;
  readonly url: string;
  readonly type: 'absolute' | 'smart';
  readonly appContext?: string;
  readonly autolaunchable?: boolean;
}

/** The decision under `extension["hs-troponin-cds"]` (chart2-pathway.md, section 7). */
export interface HsTroponinCardExtension {
  readonly outcome: string;
  readonly pathway: {
    readonly id: string;
    readonly version: string;
    readonly sha256: string;
    readonly catalogueSha256: string;
    readonly settingsSha256: string;
  };
  /** The audit record written before the response was sent (absent only off the CDS service, e.g. the console). */
  readonly auditId?: string;
  /** ISO 8601 UTC, whenever the episode has a baseline and no retest yet. */
  readonly retestDue?: string;
  readonly assays: readonly {
    readonly result: string;
    readonly assay: string;
    readonly assayName: string;
    readonly source: 'site-mapping' | 'catalogue-default';
  }[];
  /** The chest-pain onset the pathway used (pathways that read it). */
  readonly onset?: { readonly time: string | null; readonly basis: 'recorded' | 'period-end' | 'unknown' };
  /** Each catalogue cut-off table used, with its values (ng/L) and its source. */
  readonly cutoffs?: readonly { readonly table: string; readonly assay: string; readonly values: Readonly<Record<string, string>>; readonly source: string }[];
  /** The sex-specific threshold used (high-steacs). */
  readonly threshold?: { readonly url99: string; readonly basis: 'female' | 'male' | 'sex-unknown' };
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#card-attributes | Card attributes} */
export interface CdsCard {
  readonly uuid: string;
  /** One sentence, fewer than 140 characters. */
  readonly summary: string;
  /** GitHub-Flavored Markdown. */
  readonly detail?: string;
  readonly indicator: CdsIndicator;
  readonly source: CdsSource;
  readonly suggestions?: readonly CdsSuggestion[];
  /** REQUIRED when `suggestions` is present. */
  readonly selectionBehavior?: 'at-most-one' | 'any';
  readonly overrideReasons?: readonly CdsCoding[];
  readonly links?: readonly CdsLink[];
  readonly extension: { readonly 'hs-troponin-cds': HsTroponinCardExtension };
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#cds-service-response | CDS Service Response} */
export interface CdsResponse {
  readonly cards: readonly CdsCard[];
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#response | Discovery response} */
export interface CdsServiceDefinition {
  readonly hook: string;
  readonly id: string;
  readonly title?: string;
  readonly description: string;
  readonly prefetch?: Readonly<Record<string, string>>;
  readonly usageRequirements?: string;
  /** CDS Hooks 2.0 extension: the pathway file the service runs (id, version and the sha256 of its bytes). */
  readonly extension?: { readonly 'hs-troponin-cds': { readonly pathway: { readonly id: string; readonly version: string; readonly sha256: string } } };
}

export interface CdsDiscovery {
  readonly services: readonly CdsServiceDefinition[];
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#fhir-resource-access | fhirAuthorization} */
export interface CdsFhirAuthorization {
  readonly access_token: string;
  readonly token_type?: string;
  readonly expires_in?: number;
  readonly scope?: string;
  readonly subject?: string;
  readonly patient?: string;
}

/** The `patient-view` request (CDS Hooks Library 1.0.1, hookVersion 1.0). */
export interface CdsPatientViewRequest {
  readonly hook: string;
  readonly hookInstance: string;
  readonly fhirServer?: string;
  readonly fhirAuthorization?: CdsFhirAuthorization;
  readonly context: { readonly userId: string; readonly patientId: string; readonly encounterId?: string } & Readonly<Record<string, unknown>>;
  readonly prefetch?: Readonly<Record<string, unknown>> | null;
}

/** @see {@link https://cds-hooks.hl7.org/2.0/#feedback | Feedback} */
export interface CdsFeedbackItem {
  readonly card: string;
  readonly outcome: 'accepted' | 'overridden';
  readonly acceptedSuggestions?: readonly { readonly id: string }[];
  readonly overrideReason?: { readonly reason?: CdsCoding; readonly userComment?: string };
  readonly outcomeTimestamp: string;
}

export interface CdsFeedbackRequest {
  readonly feedback: readonly CdsFeedbackItem[];
}
