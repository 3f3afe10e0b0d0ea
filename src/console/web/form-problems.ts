/** The case form's problems, and the outcome brought into view after Evaluate. */
import type { FormProblem } from './form.js';
import { byId, clear, h } from './dom.js';

/** The outcome, in view and focused, after Evaluate (on a phone the card is below the form). */
export function showOutcome(): void {
  const banner = byId('outcome-banner', HTMLDivElement);
  banner.scrollIntoView({ block: 'start' });
  banner.focus({ preventScroll: true });
}

/**
 * The form's problems, at the top of the form: what is missing first, under the card's own heading
 * for it and in the card's words, then what cannot be read; each links to its field.
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
  box.hidden = false;
}
