/**
 * Escaping HTML and a tagged template that escapes every interpolated value unless it is already
 * markup built by the same template. Pages build all their text through `html`, so a title,
 * annotation or release note from an artifact can never become markup.
 */

/** Markup that is already safe: the result of {@link html}. */
export class SafeHtml {
  readonly value: string;

  constructor(value: string) {
    this.value = value;
  }

  toString(): string {
    return this.value;
  }
}

/** A value an `html` template accepts: text (escaped), markup, a list of them, or nothing. */
export type HtmlValue = string | number | SafeHtml | undefined | null | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

/**
 * Builds markup from a template: strings and numbers are escaped, `SafeHtml` is kept, arrays are joined,
 * and `undefined`, `null` and `false` render as nothing.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    out += render(values[i]) + (strings[i + 1] ?? '');
  }
  return new SafeHtml(out);
}

function render(value: HtmlValue): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}
