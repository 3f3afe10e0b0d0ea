/**
 * The case form's TIMI risk score (chart2-pathway.md rule 2): shown only when the pathway file reads a
 * TIMI score (its `inputs.timi`), never by pathway id, like the chest-pain onset (onset-field.ts). Shown,
 * it must be chosen ("Not recorded" will do), and its seven items can be ticked and summed. Hidden (ESC
 * 0 h/1 h, ESC 0 h/2 h, High-STEACS), it is neither asked for nor sent. Given, it is sent as the FHIR
 * input the engine maps: an Observation with the pathway's TIMI coding, `valueInteger` the score.
 */
import type { PathwayResponse } from './api-types.js';
import { byId } from './dom.js';

export class TimiField {
  /** The score's select, or null when the pathway reads no TIMI score (the field is hidden). */
  readonly select: HTMLSelectElement | null;
  private readonly code: { readonly system: string; readonly code: string } | undefined;

  constructor(pathway: PathwayResponse) {
    const fieldset = byId('timi-fields', HTMLFieldSetElement);
    this.code = pathway.pathway.inputs.timi?.codes[0];
    fieldset.hidden = this.code === undefined;
    // A hidden fieldset's fields are neither submitted nor focusable.
    fieldset.disabled = this.code === undefined;
    this.select = this.code === undefined ? null : byId('timi', HTMLSelectElement);
    const boxes = [...fieldset.querySelectorAll<HTMLInputElement>('input[name="timiItem"]')];
    const sum = byId('timi-sum', HTMLParagraphElement);
    for (const box of boxes) {
      box.addEventListener('change', () => {
        const n = boxes.filter((b) => b.checked).length;
        byId('timi', HTMLSelectElement).value = String(n);
        sum.textContent = `${n} of 7 items ticked: the TIMI score is set to ${n}.`;
      });
    }
  }

  /** The TIMI Observation for a chosen score, at `at` (ISO 8601 UTC); null when none is chosen or read. */
  resource(at: string, subject: { reference: string }): Record<string, unknown> | null {
    const value = this.select?.value ?? '';
    if (this.code === undefined || value === '' || value === 'none') return null;
    return {
      resourceType: 'Observation',
      id: 'console-timi',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
      code: { coding: [{ ...this.code }], text: 'TIMI risk score' },
      subject,
      effectiveDateTime: at,
      valueInteger: Number(value),
    };
  }
}
