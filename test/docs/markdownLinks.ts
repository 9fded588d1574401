// Reads Markdown the way GitHub renders it, as far as links go: the relative links a
// file makes (outside code), and the anchors its headings get. No network, no
// Markdown library: the subset our docs use, with GitHub's slug rules.

export interface MarkdownLink {
  /** As written, e.g. "docs/relay.md#options". */
  target: string;
  /** 1-based line of the link. */
  line: number;
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})/;
const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

interface ProseLine {
  /** The line as written. */
  raw: string;
  /** With each code span replaced by the word "code". */
  text: string;
  line: number;
}

/** Each line outside fenced code blocks, and its number. */
function proseLines(markdown: string): ProseLine[] {
  const lines: ProseLine[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, index) => {
    const opening = FENCE.exec(text)?.[1];
    if (fence !== undefined) {
      if (opening !== undefined && opening[0] === fence[0] && opening.length >= fence.length) fence = undefined;
      return;
    }
    if (opening !== undefined) {
      fence = opening;
      return;
    }
    // A code span's text is not Markdown: `[a](b)` in backticks is no link.
    lines.push({ raw: text, text: text.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, 'code'), line: index + 1 });
  });
  return lines;
}

// [text](target "title") and ![alt](target); text may hold one level of brackets.
const INLINE_LINK = /!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*(?:<([^>]*)>|([^\s)]+))(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g;
const REFERENCE_DEFINITION = /^\s{0,3}\[[^\]]+\]:\s*(?:<([^>]*)>|(\S+))/;
const HTML_LINK = /<(?:a|img)\s[^>]*?(?:href|src)\s*=\s*"([^"]*)"/gi;

/** Every link in the file, relative or not, outside code. */
export function extractLinks(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  for (const { text, line } of proseLines(markdown)) {
    for (const match of text.matchAll(INLINE_LINK)) links.push({ target: match[1] ?? match[2]!, line });
    const definition = REFERENCE_DEFINITION.exec(text);
    if (definition) links.push({ target: definition[1] ?? definition[2]!, line });
    for (const match of text.matchAll(HTML_LINK)) links.push({ target: match[1]!, line });
  }
  return links;
}

/** A link into this repository or package: no scheme, not protocol-relative. */
export const isRelativeLink = (target: string) => !HAS_SCHEME.test(target) && !target.startsWith('//');

// github-slugger (what GitHub uses): lower-case, then drop other numbers, punctuation
// except "-" and "_", symbols, controls, format and unassigned characters, and
// separators except the space, unless alphabetic; then each space becomes "-".
const DROPPED = /[\p{No}\p{Ps}\p{Pe}\p{Pi}\p{Pf}\p{Po}\p{Pd}\p{S}\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Z}]/u;
const ALPHABETIC = /\p{Alphabetic}/u;

export function githubSlug(headingText: string): string {
  let slug = '';
  for (const char of headingText.toLowerCase()) {
    if (char === ' ' || char === '-') slug += '-';
    else if (!DROPPED.test(char) || ALPHABETIC.test(char)) slug += char;
  }
  return slug;
}

/** A heading's text as rendered: code spans keep their text as is; links and images become their text; HTML tags go. */
function renderedText(inline: string): string {
  const spans: string[] = [];
  const outsideCode = inline.replace(/(`+)([\s\S]*?)\1/g, (_, _fence: string, content: string) => {
    spans.push(/^ .* $/.test(content) ? content.slice(1, -1) : content);
    return `\u0000${spans.length - 1}\u0000`;
  });
  return (
    outsideCode
      .replace(/!?\[((?:[^[\]]|\[[^\]]*\])*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      // eslint-disable-next-line no-control-regex -- NUL marks the code spans set aside above: text never holds it.
      .replace(/\u0000(\d+)\u0000/g, (_, index: string) => spans[Number(index)]!)
      .trim()
  );
}

/** The anchors GitHub gives the file: one per heading (a repeat gets -1, -2...), and explicit `<a id>` / `<a name>`. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const occurrences = new Map<string, number>();
  const lines = proseLines(markdown);
  lines.forEach(({ raw, text, line }, index) => {
    for (const match of text.matchAll(/<a\s[^>]*?(?:id|name)\s*=\s*"([^"]+)"/gi)) anchors.add(match[1]!);
    const next = lines[index + 1];
    const underlined = next !== undefined && next.line === line + 1 && /^\s{0,3}(=+|-+)\s*$/.test(next.text);
    const heading =
      /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(raw)?.[1] ?? (underlined && /\S/.test(text) && !/^\s{0,3}[-=]/.test(text) ? raw.trim() : undefined);
    if (heading === undefined) return;
    // As github-slugger numbers repeats.
    const base = githubSlug(renderedText(heading));
    let slug = base;
    while (occurrences.has(slug)) {
      const count = occurrences.get(base)! + 1;
      occurrences.set(base, count);
      slug = `${base}-${count}`;
    }
    occurrences.set(slug, 0);
    anchors.add(slug);
  });
  return anchors;
}
