// The README's code blocks that a test runs: a fenced block right after
// `<!-- file: src/outbox.ts -->` is a whole file of the user's app; one after
// `<!-- snippet: publish -->` is a fragment the test embeds in code of its own.
export interface ReadmeCode {
  files: Map<string, string>;
  snippets: Map<string, string>;
}

const MARKED_BLOCK = /<!-- (file|snippet): (\S+) -->\s*\n\s*```[a-z]*\n([\s\S]*?)\n\s*```/g;

export function readmeCodeBlocks(markdown: string): ReadmeCode {
  const code: ReadmeCode = { files: new Map(), snippets: new Map() };
  for (const [, kind, name, body] of markdown.matchAll(MARKED_BLOCK)) {
    // Blocks inside list items are indented: take the indentation of the first line off every line.
    const lines = body!.split('\n');
    const indent = /^\s*/.exec(lines[0]!)![0].length;
    const text = `${lines.map((line) => line.slice(Math.min(indent, /^\s*/.exec(line)![0].length))).join('\n')}\n`;
    (kind === 'file' ? code.files : code.snippets).set(name!, text);
  }
  return code;
}
