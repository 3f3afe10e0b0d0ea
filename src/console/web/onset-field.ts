/**
 * The case form's chest-pain onset (esc-0h1h-0h2h.md rule 4 and section 6; high-steacs.md rule 4): shown
 * only when the pathway file reads the onset (its `inputs.onset`), never by pathway id. Optional: left
 * empty, no onset is sent and the pathway reads the onset as unknown (the least time since onset, never a
 * less serious outcome). Its help is the pathway file's own words for an unknown onset and for when
 * recording it would matter (`serial.text`). Given, it is sent as the FHIR input the engine maps: an
 * Observation with the pathway's onset coding, `valueDateTime` the onset, recorded at the evaluation time.
 */
import type { PathwayResponse } from './api-types.js';
import { byId } from './dom.js';

export class OnsetField {
  /** The onset's input, or null when the pathway reads no onset (the field is hidden). */
  readonly input: HTMLInputElement | null;
  private readonly code: { readonly system: string; readonly code: string } | undefined;

  constructor(pathway: PathwayResponse) {
    const fieldset = byId('onset-fields', HTMLFieldSetElement);
    this.code = pathway.pathway.inputs.onset?.codes[0];
    fieldset.hidden = this.code === undefined;
    // A hidden fieldset's field is neither submitted nor focusable.
    fieldset.disabled = this.code === undefined;
    this.input = this.code === undefined ? null : byId('onset', HTMLInputElement);
    const text = pathway.pathway.serial?.text;
    byId('onset-hint', HTMLSpanElement).textContent = `Optional.${text === undefined ? ' If it is not known, leave it empty.' : ` ${text.onsetWouldMatter} If it is not known, leave it empty: the card then says “${text.onsetUnknown}”`}`;
  }

  /** The onset Observation: the onset at `onset`, recorded at `recorded` (ISO 8601 UTC both). */
  resource(onset: string, recorded: string, subject: { reference: string }): Record<string, unknown> | null {
    if (this.code === undefined) return null;
    return {
      resourceType: 'Observation',
      id: 'console-onset',
      status: 'final',
      code: { coding: [{ ...this.code }], text: 'Chest pain onset' },
      subject,
      effectiveDateTime: recorded,
      valueDateTime: onset,
    };
  }
}
