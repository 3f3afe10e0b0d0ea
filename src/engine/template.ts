/**
 * Text templates of a pathway file (its card text, its decision summaries and its labels): a string with
 * `{name}` placeholders, compiled once (at load) into literal parts and placeholder names, then filled by
 * joining parts, with no parsing per call. Braces are for placeholders only: a `{` or `}` that does not
 * enclose a known name is an error at compile time, so a typo in a pathway file stops start-up instead of
 * reaching a card. Pure; in the engine so that the engine and the card code share one filler.
 *
 * Mustache was considered: its sections, partials and default HTML escaping are more than card text
 * needs, and the checks that matter here (every name known, every name available where it is used) sit
 * outside any template library anyway.
 */

/** A compiled template: literal text and placeholder names alternate, starting and ending with text. */
export interface CardTemplate {
  /** The template as written, for messages. */
  readonly source: string;
  /** `texts.length === names.length + 1`. */
  readonly texts: readonly string[];
  readonly names: readonly string[];
}

/** A problem in a template of a pathway file: `field` is the JSON path to it. */
export class TemplateProblem extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'TemplateProblem';
  }
}

const PLACEHOLDER = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * Compile a template, checking every placeholder against the names allowed at `field`.
 *
 * @param source - The template text from the pathway file.
 * @param allowed - The placeholder names the decision provides where this template is used.
 * @param field - The JSON path of the template in the pathway file, named in errors.
 */
export function compileTemplate(source: string, allowed: ReadonlySet<string>, field: string): CardTemplate {
  const texts: string[] = [];
  const names: string[] = [];
  let rest = source;
  let text = '';
  for (;;) {
    const open = rest.indexOf('{');
    const close = rest.indexOf('}');
    if (open < 0) {
      if (close >= 0) throw new TemplateProblem(`"}" without "{" in ${JSON.stringify(source)}`, field);
      texts.push(text + rest);
      break;
    }
    if (close >= 0 && close < open) throw new TemplateProblem(`"}" without "{" in ${JSON.stringify(source)}`, field);
    const end = rest.indexOf('}', open);
    if (end < 0) throw new TemplateProblem(`"{" without "}" in ${JSON.stringify(source)}`, field);
    const name = rest.slice(open + 1, end);
    if (!PLACEHOLDER.test(name)) throw new TemplateProblem(`"{${name}}" is not a placeholder (a name of letters and digits) in ${JSON.stringify(source)}`, field);
    if (!allowed.has(name)) {
      throw new TemplateProblem(`unknown placeholder {${name}}: here the decision provides ${[...allowed].sort().map((n) => `{${n}}`).join(', ') || 'none'}`, field);
    }
    texts.push(text + rest.slice(0, open));
    names.push(name);
    text = '';
    rest = rest.slice(end + 1);
  }
  return { source, texts, names };
}

/**
 * Fill a compiled template. Values are escaped by `escape` (Markdown for the detail, nothing for the
 * plain-text summary); a name with no value is a defect the load-time checks exist to prevent, so it throws.
 */
export function fill(t: CardTemplate, values: Readonly<Record<string, string | undefined>>, escape: (value: string, name: string) => string = (v) => v): string {
  let out = t.texts[0] ?? '';
  for (let i = 0; i < t.names.length; i++) {
    const name = t.names[i] as string;
    const v = values[name];
    if (v === undefined) throw new Error(`card template ${JSON.stringify(t.source)}: no value for {${name}}`);
    out += escape(v, name) + (t.texts[i + 1] ?? '');
  }
  return out;
}
