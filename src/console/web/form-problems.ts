/** The case form's problems, and the outcome brought into view after Evaluate. */
import type { FormProblem } from './form.js';
import { byId, clear, h } from './dom.js';

/** The outcome, in view and focused, after Evaluate (on a phone the card is below the form). */
export function showOutcome(): void {
  const banner = byId('outcome-banner', HTMLDivElement);
  banner.scrollIntoView({ block: 'start' });
  banner.focus({ preventScroll: true });
}

const ERROR_CLASS = 'field-error';

/** Removes the fields' own error messages (and their ids from the fields' descriptions). */
export function clearFieldErrors(form: HTMLElement): void {
  for (const note of form.querySelectorAll<HTMLElement>(`.${ERROR_CLASS}`)) {
    const field = form.querySelector<HTMLElement>(`[aria-errormessage="${note.id}"]`);
    if (field !== null) {
      const rest = (field.getAttribute('aria-describedby') ?? '').split(/\s+/).filter((x) => x !== '' && x !== note.id);
      if (rest.length > 0) field.setAttribute('aria-describedby', rest.join(' '));
      else field.removeAttribute('aria-describedby');
      field.removeAttribute('aria-errormessage');
    }
    note.remove();
  }
}

/** A problem's message beside its field, tied to it (aria-errormessage and aria-describedby): heard on focus. */
function noteBeside(p: FormProblem, missingHeading: string): void {
  if (p.field.id === '') return;
  const id = `${p.field.id}-error`;
  p.field.after(h('span', { class: ERROR_CLASS, id }, p.missing ? `${missingHeading}: ${p.message}` : p.message));
  p.field.setAttribute('aria-errormessage', id);
  p.field.setAttribute('aria-describedby', [...(p.field.getAttribute('aria-describedby') ?? '').split(/\s+/).filter((x) => x !== ''), id].join(' '));
}

/**
 * The form's problems, at the top of the form: what is missing first, under the card's own heading
 * for it and in the card's words, then what cannot be read; each links to its field. Each is also
 * written beside its field.
 */
export function renderFormProblems(box: HTMLDivElement, problems: readonly FormProblem[], missingHeading: string): void {
  clear(box);
  const link = (p: FormProblem): HTMLLIElement => {
    const a = h('a', { href: `#${p.field.id}` }, p.message);
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      p.field.focus();
    });
    return h('li', {}, a);
  };
  const missing = problems.filter((p) => p.missing);
  const unreadable = problems.filter((p) => !p.missing);
  box.append(h('p', { class: 'error-title' }, 'The case cannot be evaluated yet'));
  if (missing.length > 0) box.append(h('p', {}, `${missingHeading}:`), h('ul', { class: 'missing-list' }, ...missing.map(link)));
  if (unreadable.length > 0) box.append(h('p', {}, 'Not readable:'), h('ul', { class: 'unreadable-list' }, ...unreadable.map(link)));
  for (const p of problems) noteBeside(p, missingHeading);
  box.hidden = false;
  markOutcomeStale();
}

/**
 * An outcome already shown is of the case evaluated before, not of the form's: said in its banner until
 * the next evaluation redraws it (renderCard empties the banner).
 */
function markOutcomeStale(): void {
  const banner = document.getElementById('outcome-banner');
  if (banner === null || banner.querySelector('.outcome-chip') === null || banner.querySelector('.stale-note') !== null) return;
  banner.append(h('p', { class: 'stale-note' }, 'This is the outcome of the case evaluated before. The case in the form cannot be evaluated yet: see its problems.'));
}
