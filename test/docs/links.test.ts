// No dead links. README.md is read on npm and in the installed package, so each of
// its relative links must name a file the package ships (`npm pack`'s own list);
// docs/, CONTRIBUTING.md and src/*/README.md are read in the repository, so theirs
// must resolve there. An #anchor must be a heading (GitHub's slug) or an explicit
// anchor of the target. No network: links with a scheme are not followed.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractLinks, githubSlug, headingAnchors, isRelativeLink } from './markdownLinks.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

const markdownFiles = (dir: string): string[] =>
  readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return markdownFiles(file);
    return entry.name.endsWith('.md') ? [file] : [];
  });
const docsFiles = () => markdownFiles('docs');

/** Where a link leads, relative to the root: a file or folder path (posix), and its anchor. */
function resolveLink(fromFile: string, target: string): { file: string; anchor: string | undefined } {
  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent((hash === -1 ? target : target.slice(0, hash)).split('?')[0]!);
  const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
  if (pathPart === '') return { file: fromFile, anchor };
  // GitHub reads "/x" as the repository's root.
  const base = pathPart.startsWith('/') ? '.' : path.posix.dirname(fromFile);
  return { file: path.posix.normalize(path.posix.join(base, pathPart.replace(/^\/+/, ''))).replace(/\/$/, ''), anchor };
}

const isDirectory = (file: string) => {
  try {
    return statSync(path.join(ROOT, file)).isDirectory();
  } catch {
    return false;
  }
};
const exists = (file: string) => {
  try {
    statSync(path.join(ROOT, file));
    return true;
  } catch {
    return false;
  }
};

/** Why the anchor does not exist in `file`, or undefined when it does. */
function anchorProblem(file: string, anchor: string | undefined): string | undefined {
  if (anchor === undefined || anchor === '') return undefined;
  if (isDirectory(file)) return `#${anchor} on a folder`;
  if (!file.endsWith('.md')) {
    // GitHub's line anchors on source files.
    return /^L\d+(-L\d+)?$/.test(anchor) ? undefined : `#${anchor} is not a line anchor (#L12) and ${file} is not Markdown`;
  }
  const anchors = headingAnchors(readFileSync(path.join(ROOT, file), 'utf8'));
  return anchors.has(anchor) ? undefined : `no heading #${anchor} in ${file}`;
}

/** Every broken relative link of a file: "line N: target: why". */
function brokenLinks(file: string, fileExists: (target: string) => boolean, where: string): string[] {
  const problems: string[] = [];
  for (const { target, line } of extractLinks(readFileSync(path.join(ROOT, file), 'utf8'))) {
    if (!isRelativeLink(target)) continue;
    const resolved = resolveLink(file, target);
    if (resolved.file.startsWith('..')) {
      problems.push(`line ${line}: ${target}: leads outside ${where}`);
    } else if (!fileExists(resolved.file)) {
      problems.push(`line ${line}: ${target}: ${resolved.file} is not ${where === 'the repository' ? 'in the repository' : 'shipped in the package'}`);
    } else {
      const problem = anchorProblem(resolved.file, resolved.anchor);
      if (problem) problems.push(`line ${line}: ${target}: ${problem}`);
    }
  }
  return problems;
}

describe('the link checker', () => {
  it('slugs headings as GitHub does', () => {
    expect(githubSlug('Relay throughput against raw amqplib: npm run bench:relay')).toBe('relay-throughput-against-raw-amqplib-npm-run-benchrelay');
    expect(githubSlug('outbox.publish(tx, event, payload, options?) → Promise<messageId>')).toBe('outboxpublishtx-event-payload-options--promisemessageid');
    expect(githubSlug('A 3-node RabbitMQ cluster')).toBe('a-3-node-rabbitmq-cluster');
    expect(githubSlug('Ordering, honestly')).toBe('ordering-honestly');
    expect(githubSlug('snake_case — and ÜNICODE')).toBe('snake_case--and-ünicode');
  });

  it('finds headings, repeats and explicit anchors, and ignores code', () => {
    const markdown = [
      '# `outbox dlq list|replay|purge <consumer>`',
      '## Options',
      '## Options',
      'Setext heading',
      '--------------',
      '<a id="kept"></a>',
      '```md',
      '## Not a heading',
      '[not a link](nowhere.md)',
      '```',
      'See [the relay](docs/relay.md#options "title"), `[code](nowhere.md)`, ![img](<a b.png>) and [x][ref].',
      '[ref]: ./ref.md#top',
    ].join('\n');
    expect([...headingAnchors(markdown)]).toEqual(['outbox-dlq-listreplaypurge-consumer', 'options', 'options-1', 'setext-heading', 'kept']);
    expect(extractLinks(markdown).map((link) => link.target)).toEqual(['docs/relay.md#options', 'a b.png', './ref.md#top']);
  });
});

describe("relative links in docs/, CONTRIBUTING.md and the folders' READMEs resolve in the repository", () => {
  const files = ['CONTRIBUTING.md', ...docsFiles(), ...markdownFiles('src').filter((file) => file.endsWith('/README.md'))];
  it.each(files)('%s', (file) => {
    expect(brokenLinks(file, exists, 'the repository')).toEqual([]);
  });
});

describe('relative links in README.md resolve in the published package', () => {
  let shipped: Set<string>;
  beforeAll(async () => {
    // npm's own list of what the tarball holds; --ignore-scripts: no build needed to list it.
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    const [report] = JSON.parse(stdout) as { files: { path: string }[] }[];
    shipped = new Set(report!.files.map((file) => file.path));
  }, 60_000);

  const inPackage = (file: string) => shipped.has(file) || [...shipped].some((shippedFile) => shippedFile.startsWith(`${file}/`));

  it('ships docs/', () => {
    expect(inPackage('docs/README.md')).toBe(true);
  });

  it('README.md', () => {
    expect(brokenLinks('README.md', inPackage, 'the package')).toEqual([]);
  });
});
