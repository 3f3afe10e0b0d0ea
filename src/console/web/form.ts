/**
 * The case form: the chest-pain onset (pathways that read it, onset-field.ts), ECG, TIMI (or its seven
 * items, summed; pathways that read it, timi-field.ts), sex, assay and any number of troponin results,
 * written as FHIR R4 resources exactly as an EHR or a laboratory would send them.
 *
 * Every clinical field starts empty and must be chosen: the ECG finding, the TIMI score (when asked), the assay
 * (unless the site set a default, settings `consoleDefaultAssay`, which is labelled as the site's), each
 * value's unit and draw time. Times are clock times in the site's `displayTimeZone` (never the
 * browser's); the evaluation time starts at the service's clock. A missing field is named in the words
 * the card uses for it (the pathway file's `cards.missingItems`), or else by its label on the page.
 */
import type { AssayView, PathwayResponse } from './api-types.js';
import { byId, clear, h } from './dom.js';
import { clearFieldErrors } from './form-problems.js';
import { OnsetField } from './onset-field.js';
import { TimiField } from './timi-field.js';
import { instantOf, wallTime } from './time.js';

export const UCUM = 'http://unitsofmeasure.org';
const SNOMED = 'http://snomed.info/sct';
const UNITS: readonly { readonly code: string; readonly label: string; readonly ucum: boolean }[] = [
  { code: 'ng/L', label: 'ng/L', ucum: true },
  { code: 'pg/mL', label: 'pg/mL', ucum: true },
  { code: 'ng/mL', label: 'ng/mL', ucum: true },
  { code: 'ug/L', label: 'ug/L', ucum: true },
  { code: 'µg/L', label: 'µg/L (not UCUM)', ucum: false },
];
const COMPARATORS: readonly { readonly value: string; readonly label: string }[] = [
  { value: '', label: '=' },
  { value: '<', label: '<' },
  { value: '<=', label: '≤' },
  { value: '>', label: '>' },
  { value: '>=', label: '≥' },
];
const STATUSES = ['final', 'amended', 'corrected', 'preliminary', 'registered', 'cancelled', 'entered-in-error'] as const;

export interface FormProblem {
  readonly field: HTMLElement;
  /** What is wrong, naming the field. */
  readonly message: string;
  /** True when the field is empty (listed under the card's heading for what is missing). */
  readonly missing: boolean;
}

export interface BuiltCase {
  readonly resources: Record<string, unknown>[];
  readonly now: string;
}

let rowCounter = 0;

const TIME_PROBLEMS = {
  unreadable: 'a date and a clock time',
  skipped: 'a clock time the clocks skip (they go forward then): give the time as the clocks showed it',
  repeated: 'a clock time that happens twice (the clocks go back then): the pathway cannot tell which',
} as const;

/** A field's name as its label on the page says it. */
export function fieldLabel(field: HTMLElement): string {
  const label = field.id === '' ? null : document.querySelector<HTMLLabelElement>(`label[for="${field.id}"]`);
  return label?.textContent?.trim() ?? field.getAttribute('aria-label') ?? field.id;
}

export class CaseForm {
  readonly form = byId('case-form', HTMLFormElement);
  private readonly rows = byId('result-rows', HTMLOListElement);
  private readonly assay = byId('assay', HTMLSelectElement);
  private readonly timi: TimiField;
  private readonly onset: OnsetField;
  private readonly zone: string;

  constructor(private readonly pathway: PathwayResponse) {
    this.zone = pathway.displayTimeZone;
    byId('time-zone', HTMLElement).textContent = this.zone;
    const siteDefault = pathway.assays.find((a) => a.id === pathway.consoleDefaultAssay);
    this.assay.append(h('option', { value: '', selected: siteDefault === undefined }, 'Choose the assay…'));
    for (const a of pathway.assays) {
      const isDefault = a === siteDefault;
      this.assay.append(h('option', { value: a.id, selected: isDefault }, `${a.name} (URL ${a.url99.overall} ng/L)${isDefault ? " · the site's default" : ''}`));
    }
    byId('assay-hint', HTMLSpanElement).textContent =
      siteDefault === undefined
        ? 'No default: choose the assay that measured these results.'
        : `The site's default assay (${siteDefault.name}), from the site settings: change it if these results are from another assay.`;
    // The evaluation time starts at the service's clock (injected in tests), in the site's zone.
    byId('eval-at', HTMLInputElement).value = wallTime(Date.parse(pathway.now), this.zone);
    this.onset = new OnsetField(pathway);
    this.timi = new TimiField(pathway);
    this.addRow();
    this.addRow();
    byId('add-result', HTMLButtonElement).addEventListener('click', () => {
      const row = this.addRow();
      row.querySelector('input')?.focus();
    });
  }

  /** The words for an item: the card's (the pathway file's `cards.missingItems`), or else the field's label. */
  private words(item: string | undefined, field: HTMLElement): string {
    const fromCard = item === undefined ? undefined : this.pathway.pathway.cards?.missingItems?.[item];
    return fromCard ?? fieldLabel(field);
  }

  addRow(): HTMLLIElement {
    rowCounter += 1;
    const n = rowCounter;
    const index = this.rows.children.length + 1;
    const id = (what: string): string => `result-${n}-${what}`;
    // Each label's name is "Result 2 value" (what a screen reader says and what a problem names); the words
    // "Result 2" are shown once, as the row's title, so that a narrow label does not run into the next one.
    const field = (what: string, text: string, control: HTMLElement, cls = 'field'): HTMLDivElement =>
      h('div', { class: cls }, h('label', { for: id(what) }, h('span', { class: 'visually-hidden row-number' }, `Result ${index} `), h('span', { class: 'label-words' }, text)), control);
    const comparator = h('select', { id: id('comparator'), name: `comparator-${n}` }, ...COMPARATORS.map((c) => h('option', { value: c.value }, c.label)));
    const value = h('input', { id: id('value'), type: 'text', inputmode: 'decimal', autocomplete: 'off', name: `value-${n}`, class: 'col-value' });
    const unit = h('select', { id: id('unit'), name: `unit-${n}`, class: 'col-unit' }, h('option', { value: '' }, 'Choose…'), ...UNITS.map((u) => h('option', { value: u.code }, u.label)));
    const drawn = h('input', { id: id('drawn'), type: 'datetime-local', step: 60, autocomplete: 'off', name: `drawn-${n}`, class: 'col-drawn' });
    const status = h('select', { id: id('status'), name: `status-${n}` }, ...STATUSES.map((st) => h('option', { value: st, selected: st === 'final' }, st)));
    const remove = h('button', { type: 'button', class: 'remove secondary' }, `Remove result ${index}`);
    const row = h(
      'li',
      { class: 'result-row', 'data-row': n },
      h('p', { class: 'row-title', 'aria-hidden': 'true' }, `Result ${index}`),
      field('comparator', 'comparator', comparator, 'field narrow'),
      field('value', 'value', value, 'field short'),
      field('unit', 'unit', unit),
      field('drawn', 'drawn at', drawn),
      field('status', 'status', status),
      remove,
    );
    remove.addEventListener('click', () => {
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      this.renumber();
      (next?.querySelector('input') ?? byId('add-result', HTMLButtonElement)).focus();
    });
    this.rows.append(row);
    return row;
  }

  private renumber(): void {
    [...this.rows.children].forEach((r, i) => {
      for (const el of r.querySelectorAll('.row-title, .row-number, button.remove')) el.textContent = (el.textContent ?? '').replace(/Result \d+|result \d+/, (m) => `${m.startsWith('R') ? 'Result' : 'result'} ${i + 1}`);
    });
  }

  clearRows(): void {
    clear(this.rows);
  }

  private selectedAssay(): AssayView | undefined {
    return this.pathway.assays.find((a) => a.id === this.assay.value);
  }

  /** A date-and-time field read in the site's zone; a problem when it is empty or not a time. */
  private time(el: HTMLInputElement, problems: FormProblem[]): number | null {
    // A date-and-time typed in part has no value, but is not empty: it cannot be read.
    if (el.value.trim() === '' && el.validity.badInput) {
      problems.push({ field: el, message: `${fieldLabel(el)}: ${TIME_PROBLEMS.unreadable} (${this.zone})`, missing: false });
      return null;
    }
    if (el.value.trim() === '') {
      problems.push({ field: el, message: fieldLabel(el), missing: true });
      return null;
    }
    const r = instantOf(el.value, this.zone);
    if (r.ok) return r.ms;
    problems.push({ field: el, message: `${fieldLabel(el)}: ${TIME_PROBLEMS[r.problem]} (${this.zone})`, missing: false });
    return null;
  }

  /** The resources and evaluation time the form describes, or the problems that stop it. */
  build(): { ok: true; value: BuiltCase } | { ok: false; problems: FormProblem[] } {
    const problems: FormProblem[] = [];
    for (const el of this.form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
    clearFieldErrors(this.form);
    const missing = (field: HTMLElement, item?: string): void => void problems.push({ field, message: this.words(item, field), missing: true });
    const evalAt = this.time(byId('eval-at', HTMLInputElement), problems);
    // Optional: empty (and not typed in part) is no onset, read by the pathway as unknown.
    const onsetEl = this.onset.input;
    const onsetAt = onsetEl === null || (onsetEl.value.trim() === '' && !onsetEl.validity.badInput) ? null : this.time(onsetEl, problems);
    const ecgEl = byId('ecg', HTMLSelectElement);
    if (ecgEl.value === '') missing(ecgEl, 'ecg');
    const ecgAt = ecgEl.value !== '' && ecgEl.value !== 'none' ? this.time(byId('ecg-at', HTMLInputElement), problems) : null;
    const timiEl = this.timi.select;
    if (timiEl !== null && timiEl.value === '') missing(timiEl, 'timi');
    const assay = this.selectedAssay();
    if (assay === undefined) missing(this.assay, 'assay');
    const results: { value: number; comparator: string; unit: string; ms: number; status: string }[] = [];
    [...this.rows.children].forEach((row, i) => {
      const valueEl = row.querySelector<HTMLInputElement>('input.col-value');
      const unitEl = row.querySelector<HTMLSelectElement>('select.col-unit');
      const drawnEl = row.querySelector<HTMLInputElement>('input.col-drawn');
      const selects = row.querySelectorAll<HTMLSelectElement>('select');
      if (valueEl === null || unitEl === null || drawnEl === null) return;
      const raw = valueEl.value.trim();
      if (raw === '') {
        // The first result is the baseline, which the pathway needs: the card's words for it.
        if (i === 0) missing(valueEl, 'baseline-troponin');
        return;
      }
      if (!/^\d+(\.\d+)?$/.test(raw) || raw.replace('.', '').length > 15) {
        problems.push({ field: valueEl, message: `${fieldLabel(valueEl)}: a number such as 14 or 0.0132`, missing: false });
        return;
      }
      if (unitEl.value === '') missing(unitEl);
      const ms = this.time(drawnEl, problems);
      if (ms === null || unitEl.value === '') return;
      results.push({ value: Number(raw), comparator: selects[0]?.value ?? '', unit: unitEl.value, ms, status: selects[2]?.value ?? 'final' });
    });
    if (problems.length > 0 || evalAt === null || assay === undefined) {
      for (const p of problems) p.field.setAttribute('aria-invalid', 'true');
      return { ok: false, problems };
    }
    const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const codes = this.pathway.codes;
    const resources: Record<string, unknown>[] = [];
    const sex = byId('sex', HTMLSelectElement).value;
    if (sex !== '') resources.push({ resourceType: 'Patient', id: 'console-patient', gender: sex });
    const subject = { reference: 'Patient/console-patient' };
    // Recorded at the evaluation time: within the episode, never after the evaluation.
    const onset = onsetAt === null ? null : this.onset.resource(iso(onsetAt), iso(evalAt), subject);
    if (onset !== null) resources.push(onset);
    if (ecgEl.value !== 'none' && ecgAt !== null) {
      const coding = ecgEl.value === 'lbbb-age-unknown' ? { system: SNOMED, code: '164909002', display: 'Left bundle branch block' } : { system: codes.productSystem, code: ecgEl.value };
      resources.push({
        resourceType: 'Observation',
        id: 'console-ecg',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'procedure' }] }],
        code: { coding: [{ ...codes.ecgCode }], text: '12-lead ECG' },
        subject,
        effectiveDateTime: iso(ecgAt),
        valueCodeableConcept: { coding: [coding] },
      });
    }
    // Scored with the ECG, or at the evaluation when there is no ECG.
    const timi = this.timi.resource(iso(ecgAt ?? evalAt), subject);
    if (timi !== null) resources.push(timi);
    const coding = assay.codings.find((c) => c.system === 'http://loinc.org') ?? assay.codings[0];
    results.forEach((r, i) => {
      const unit = UNITS.find((u) => u.code === r.unit);
      resources.push({
        resourceType: 'Observation',
        id: `console-troponin-${i + 1}`,
        status: r.status,
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
        code: { coding: coding === undefined ? [] : [{ ...coding }], text: assay.name },
        subject,
        effectiveDateTime: iso(r.ms),
        valueQuantity: {
          value: r.value,
          ...(r.comparator === '' ? {} : { comparator: r.comparator }),
          unit: r.unit,
          ...(unit?.ucum === true ? { system: UCUM, code: r.unit } : {}),
        },
      });
    });
    return { ok: true, value: { resources, now: iso(evalAt) } };
  }
}
