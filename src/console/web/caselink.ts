/**
 * A card's link to the console: `/console#case=<payload>.<signature>`. The case is in the fragment,
 * which the browser never sends to a server; the page posts it to the service, which checks the
 * signature with a key the page never sees, and says whether it verified and what a summarised link
 * left out. The banner says "from a card of this service" only when the signature verified.
 */
import type { EvaluateResponse } from './api-types.js';
import { clear, h } from './dom.js';

/** The `case` of the page's address: from the fragment (`#case=`), or the query of older links. */
export function caseFromLocation(): string | null {
  const fromHash = new URLSearchParams(window.location.hash.replace(/^#/, '')).get('case');
  if (fromHash !== null && fromHash !== '') return fromHash;
  return new URLSearchParams(window.location.search).get('case');
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Fills the case banner for a case opened from a link. */
export function renderLinkBanner(banner: HTMLElement, res: EvaluateResponse, outcomeLabel: (o: string) => string): void {
  clear(banner);
  const link = res.caseLink;
  if (link === undefined) return;
  banner.className = `banner ${link.verified ? 'verified' : 'unverified'}`;
  banner.dataset['link'] = link.verified ? 'verified' : 'unverified';
  banner.dataset['summarised'] = link.summary === null ? 'false' : 'true';
  if (link.verified) {
    banner.append(
      h('p', { class: 'banner-title' }, h('span', { 'aria-hidden': 'true' }, '✔ '), 'From a card of this service'),
      h('p', {}, 'The service checked this link’s signature: it was made by this service for a card. It holds de-identified inputs only (codes, values, units, statuses and times relative to the baseline, placed on a fixed date). Its resources are in “Paste FHIR”.'),
    );
  } else {
    banner.append(
      h('p', { class: 'banner-title' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), 'Unverified link: not from this service'),
      h(
        'p',
        {},
        link.problem === 'no-signature'
          ? 'This link carries no signature (or is of an older, unsigned kind), so nothing shows that this service made it. '
          : 'This link’s signature does not match this service’s: it was made elsewhere or changed after it was made. ',
        'The case is shown so that you can look at it; do not take it for the evaluation of a card. Its resources are in “Paste FHIR”.',
      ),
    );
  }
  const said = link.cardOutcome === null ? null : `${link.verified ? 'The card said' : 'The link says the card said'}: ${outcomeLabel(link.cardOutcome)}.`;
  const differs = link.cardOutcome !== null && link.cardOutcome !== res.decision.outcome;
  if (link.summary !== null) {
    const s = link.summary;
    const dropped = [
      s.dropped.troponin > 0 ? plural(s.dropped.troponin, 'troponin result', 'troponin results') : '',
      s.dropped.ecg > 0 ? plural(s.dropped.ecg, 'ECG', 'ECGs') : '',
      s.dropped.timi > 0 ? plural(s.dropped.timi, 'TIMI score', 'TIMI scores') : '',
      (s.dropped.onset ?? 0) > 0 ? plural(s.dropped.onset ?? 0, 'chest-pain onset', 'chest-pain onsets') : '',
    ]
      .filter((x) => x !== '')
      .join(', ');
    banner.append(
      h('p', { class: 'banner-title', id: 'link-summary' }, 'Summarised case'),
      h(
        'p',
        {},
        `The episode was too long for a link: it keeps ${s.kept} of ${s.observations} observations (the baseline, the ECG and TIMI used, the results the decision weighed and the most serious others; left out: ${dropped}). The evaluation below may not reproduce the card’s decision. `,
        said,
        differs ? ` This summary evaluates to: ${outcomeLabel(res.decision.outcome)}.` : '',
      ),
    );
  } else if (said !== null) {
    banner.append(h('p', { class: differs ? 'banner-title' : null, id: 'link-outcome' }, said, differs ? ` This evaluation gives: ${outcomeLabel(res.decision.outcome)}.` : ' This evaluation gives the same.'));
  }
  banner.hidden = false;
}
