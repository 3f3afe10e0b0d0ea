/**
 * The case form: ECG, TIMI (or its seven items, summed), sex, assay and any number of troponin results,
 * written as FHIR R4 resources exactly as an EHR or a laboratory would send them.
 */
import type { AssayView, PathwayResponse } from './api-types.js';
import { byId, clear, h } from './dom.js';

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
  readonly message: string;
}

export interface BuiltCase {
  readonly resources: Record<string, unknown>[];
  readonly now: string;
}

let rowCounter = 0;

function isoMinute(ms: number): string {
  return new Date(ms).toISOString().replace(/:\d{2}\.\d{3}Z$/, ':00Z');
}

/** "2026-03-06 11:20" (UTC) to epoch ms, or null. */
export function parseAnchor(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::00)?Z?$/.exec(text.trim());
  if (m === null) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  const d = new Date(ms);
  return d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]) && Number(m[4]) < 24 && Number(m[5]) < 60 ? ms : null;
}

function parseMinutes(text: string): number | null {
  const t = text.trim().replace(/^\+/, '').replace('−', '-');
  return /^-?\d{1,6}$/.test(t) ? Number(t) : null;
}

export class CaseForm {
  readonly form = byId('case-form', HTMLFormElement);
  private readonly rows = byId('result-rows', HTMLTableSectionElement);
  private readonly assay = byId('assay', HTMLSelectElement);
  private readonly timi = byId('timi', HTMLSelectElement);
  private readonly timiSum = byId('timi-sum', HTMLParagraphElement);

  constructor(private readonly pathway: PathwayResponse) {
    for (const a of pathway.assays) this.assay.append(h('option', { value: a.id }, `${a.name} (URL ${a.url99.overall} ng/L)`));
    const anchor = byId('anchor', HTMLInputElement);
    // The first troponin 190 minutes ago, so that the default evaluation time (+190) is about now.
    anchor.value = isoMinute(Math.floor((Date.now() - 190 * 60_000) / 300_000) * 300_000).replace('T', ' ').replace(':00Z', '');
    this.addRow({ minutes: '0' });
    this.addRow({ minutes: '180' });
    byId('add-result', HTMLButtonElement).addEventListener('click', () => {
      const row = this.addRow({ minutes: '' });
      row.querySelector('input')?.focus();
    });
    for (const box of this.form.querySelectorAll<HTMLInputElement>('input[name="timiItem"]')) {
      box.addEventListener('change', () => this.sumItems());
    }
  }

  private sumItems(): void {
    const boxes = [...this.form.querySelectorAll<HTMLInputElement>('input[name="timiItem"]')];
    const sum = boxes.filter((b) => b.checked).length;
    this.timi.value = String(sum);
    this.timiSum.textContent = `${sum} of 7 items ticked: the TIMI score is set to ${sum}.`;
  }

  addRow(init: { minutes: string; value?: string; unit?: string; comparator?: string; status?: string }): HTMLTableRowElement {
    rowCounter += 1;
    const n = rowCounter;
    const index = this.rows.rows.length + 1;
    const label = (what: string): string => `Result ${index} ${what}`;
    const value = h('input', { type: 'text', inputmode: 'decimal', autocomplete: 'off', 'aria-label': label('value'), name: `value-${n}`, class: 'col-value', value: init.value ?? '' });
    const comparator = h('select', { 'aria-label': label('comparator'), name: `comparator-${n}` }, ...COMPARATORS.map((c) => h('option', { value: c.value, selected: c.value === (init.comparator ?? '') }, c.label)));
    const unit = h('select', { 'aria-label': label('unit'), name: `unit-${n}` }, ...UNITS.map((u) => h('option', { value: u.code, selected: u.code === (init.unit ?? 'ng/L') }, u.label)));
    const minutes = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'off', 'aria-label': label('drawn at, minutes after the first troponin'), name: `minutes-${n}`, value: init.minutes });
    const status = h('select', { 'aria-label': label('status'), name: `status-${n}` }, ...STATUSES.map((st) => h('option', { value: st, selected: st === (init.status ?? 'final') }, st)));
    const remove = h('button', { type: 'button', class: 'remove', 'aria-label': `Remove result ${index}`, title: 'Remove this result' }, '✕');
    const row = h('tr', { 'data-row': n }, h('td', {}, String(index)), h('td', {}, comparator), h('td', {}, value), h('td', {}, unit), h('td', {}, minutes), h('td', {}, status), h('td', {}, remove));
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
    [...this.rows.rows].forEach((r, i) => {
      const cell = r.cells[0];
      if (cell !== undefined) cell.textContent = String(i + 1);
      for (const el of r.querySelectorAll<HTMLElement>('[aria-label]')) {
        el.setAttribute('aria-label', (el.getAttribute('aria-label') ?? '').replace(/^Result \d+/, `Result ${i + 1}`).replace(/^Remove result \d+/, `Remove result ${i + 1}`));
      }
    });
  }

  /** Fill the form from values (used by tests of the page and by "reset"). */
  clearRows(): void {
    clear(this.rows);
  }

  private selectedAssay(): AssayView | undefined {
    return this.pathway.assays.find((a) => a.id === this.assay.value);
  }

  /** The resources and evaluation time the form describes, or the problems that stop it. */
  build(): { ok: true; value: BuiltCase } | { ok: false; problems: FormProblem[] } {
    const problems: FormProblem[] = [];
    for (const el of this.form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
    const anchorEl = byId('anchor', HTMLInputElement);
    const anchor = parseAnchor(anchorEl.value);
    if (anchor === null) problems.push({ field: anchorEl, message: 'First troponin drawn at: write the time as YYYY-MM-DD HH:MM (UTC).' });
    const evalEl = byId('eval-minutes', HTMLInputElement);
    const evalMinutes = parseMinutes(evalEl.value);
    if (evalMinutes === null) problems.push({ field: evalEl, message: 'Evaluate at: a whole number of minutes after the first troponin.' });
    const ecgEl = byId('ecg', HTMLSelectElement);
    const ecgMinEl = byId('ecg-minutes', HTMLInputElement);
    const ecgMinutes = parseMinutes(ecgMinEl.value);
    if (ecgEl.value !== 'none' && ecgMinutes === null) problems.push({ field: ecgMinEl, message: 'ECG taken at: a whole number of minutes (negative before the first troponin).' });
    const assay = this.selectedAssay();
    if (assay === undefined) problems.push({ field: this.assay, message: 'Choose an assay.' });
    const results: { value: number; comparator: string; unit: string; minutes: number; status: string }[] = [];
    [...this.rows.rows].forEach((row, i) => {
      const [valueEl] = row.querySelectorAll<HTMLInputElement>('input.col-value');
      const selects = row.querySelectorAll<HTMLSelectElement>('select');
      const minutesEl = row.querySelector<HTMLInputElement>('input[name^="minutes-"]');
      if (valueEl === undefined || minutesEl === null) return;
      const raw = valueEl.value.trim();
      if (raw === '') return;
      if (!/^\d+(\.\d+)?$/.test(raw) || raw.replace('.', '').length > 15) {
        problems.push({ field: valueEl, message: `Result ${i + 1}: the value must be a number such as 14 or 0.0132.` });
        return;
      }
      const m = parseMinutes(minutesEl.value);
      if (m === null) {
        problems.push({ field: minutesEl, message: `Result ${i + 1}: drawn at must be a whole number of minutes.` });
        return;
      }
      results.push({ value: Number(raw), comparator: selects[0]?.value ?? '', unit: selects[1]?.value ?? 'ng/L', minutes: m, status: selects[2]?.value ?? 'final' });
    });
    if (problems.length > 0 || anchor === null || evalMinutes === null || assay === undefined) {
      for (const p of problems) p.field.setAttribute('aria-invalid', 'true');
      return { ok: false, problems };
    }
    const at = (minutes: number): string => isoMinute(anchor + minutes * 60_000);
    const codes = this.pathway.codes;
    const resources: Record<string, unknown>[] = [];
    const sex = byId('sex', HTMLSelectElement).value;
    if (sex !== '') resources.push({ resourceType: 'Patient', id: 'console-patient', gender: sex });
    const subject = { reference: 'Patient/console-patient' };
    if (ecgEl.value !== 'none') {
      const coding = ecgEl.value === 'lbbb-age-unknown' ? { system: SNOMED, code: '164909002', display: 'Left bundle branch block' } : { system: codes.productSystem, code: ecgEl.value };
      resources.push({
        resourceType: 'Observation',
        id: 'console-ecg',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'procedure' }] }],
        code: { coding: [{ ...codes.ecgCode }], text: '12-lead ECG' },
        subject,
        effectiveDateTime: at(ecgMinutes ?? 0),
        valueCodeableConcept: { coding: [coding] },
      });
    }
    if (this.timi.value !== 'none') {
      resources.push({
        resourceType: 'Observation',
        id: 'console-timi',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
        code: { coding: [{ ...codes.timiCode }], text: 'TIMI risk score' },
        subject,
        effectiveDateTime: at(ecgMinutes ?? 0),
        valueInteger: Number(this.timi.value),
      });
    }
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
        effectiveDateTime: at(r.minutes),
        valueQuantity: {
          value: r.value,
          ...(r.comparator === '' ? {} : { comparator: r.comparator }),
          unit: r.unit,
          ...(unit?.ucum === true ? { system: UCUM, code: r.unit } : {}),
        },
      });
    });
    return { ok: true, value: { resources, now: at(evalMinutes) } };
  }
}

/** ARIA tabs: arrow keys move between tabs, Home/End to the ends; the selected tab shows its panel. */
export function setUpTabs(list: HTMLElement, onSelect?: (id: string) => void): (id: string) => void {
  const tabs = [...list.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  const select = (id: string, focus = false): void => {
    for (const t of tabs) {
      const on = t.id === id;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(t.getAttribute('aria-controls') ?? '');
      if (panel !== null) panel.hidden = !on;
      if (on && focus) t.focus();
    }
    onSelect?.(id);
  };
  tabs.forEach((t, i) => {
    t.addEventListener('click', () => select(t.id));
    t.addEventListener('keydown', (ev) => {
      let j: number | null = null;
      if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
      else if (ev.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      else if (ev.key === 'Home') j = 0;
      else if (ev.key === 'End') j = tabs.length - 1;
      if (j === null) return;
      ev.preventDefault();
      const next = tabs[j];
      if (next !== undefined) select(next.id, true);
    });
  });
  return (id: string) => select(id);
}
