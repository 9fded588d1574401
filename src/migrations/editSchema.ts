// Text edits `outbox init` makes to an app's Prisma schema: the outbox models as a
// managed block (single-file schema) and the generator's preview feature. Plain
// text edits, so the app's formatting and comments stay as they were.

export const BLOCK_BEGIN = '// ---- prisma-rabbitmq-outbox: begin (managed by `npx outbox init`; edits inside are overwritten) ----';
export const BLOCK_END = '// ---- prisma-rabbitmq-outbox: end ----';

/** The feature the relay's partial index needs (`@@index(..., where: ...)`). */
export const REQUIRED_PREVIEW_FEATURE = 'partialIndexes';

/** The shipped outbox.prisma without its "copy this file" header: the models only. */
export function outboxModels(shippedSchema: string): string {
  const lines = shippedSchema.split('\n');
  let first = 0;
  while (first < lines.length && (lines[first]!.startsWith('//') || lines[first]!.trim() === '')) first += 1;
  return `${lines.slice(first).join('\n').trimEnd()}\n`;
}

export function managedBlock(models: string): string {
  return `${BLOCK_BEGIN}\n// The table and column names (@@map / @map) must stay as they are; the model names are yours.\n\n${models}${BLOCK_END}\n`;
}

/** The schema text with the managed block replaced (or appended); `undefined` block removes it. */
export function withManagedBlock(schema: string, block: string | undefined): string {
  const begin = schema.indexOf(BLOCK_BEGIN);
  const end = schema.indexOf(BLOCK_END);
  if (begin !== -1 && end > begin) {
    const after = schema.slice(end + BLOCK_END.length).replace(/^\n/, '');
    const before = schema.slice(0, begin);
    return block === undefined ? `${before.trimEnd()}\n${after ? `\n${after}` : ''}` : `${before}${block}${after}`;
  }
  if (block === undefined) return schema;
  return `${schema.trimEnd()}\n\n${block}`;
}

/** Whether the text defines the outbox tables outside a managed block (copied by hand). */
export function definesOutboxTables(schema: string): boolean {
  const outside = withManagedBlock(schema, undefined);
  return /@@map\(\s*"outbox_message"\s*\)/.test(outside);
}

const GENERATOR = /generator\s+\w+\s*\{[^}]*\}/g;
const CLIENT_PROVIDER = /provider\s*=\s*"prisma-client(-js)?"/;
const PREVIEW_FEATURES = /previewFeatures\s*=\s*\[([^\]]*)\]/;

/** Adds the preview feature to every Prisma Client generator block that lacks it. */
export function withPreviewFeature(schema: string, feature = REQUIRED_PREVIEW_FEATURE): string {
  return schema.replace(GENERATOR, (block) => {
    if (!CLIENT_PROVIDER.test(block)) return block;
    const existing = PREVIEW_FEATURES.exec(block);
    if (existing) {
      const features = existing[1]!
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
      if (features.includes(`"${feature}"`)) return block;
      return block.replace(PREVIEW_FEATURES, `previewFeatures = [${[...features, `"${feature}"`].join(', ')}]`);
    }
    // After the provider line, indented like it.
    return block.replace(/^([ \t]*)(provider\s*=\s*"prisma-client(?:-js)?"[^\n]*)$/m, `$1$2\n$1previewFeatures = ["${feature}"]`);
  });
}

export function hasClientGenerator(schema: string): boolean {
  return [...schema.matchAll(GENERATOR)].some(([block]) => CLIENT_PROVIDER.test(block));
}

/** The datasource provider named in the text, if it has a datasource block. */
export function datasourceProvider(schema: string): string | undefined {
  const block = /datasource\s+\w+\s*\{[^}]*\}/.exec(schema)?.[0];
  return block ? /provider\s*=\s*"([^"]+)"/.exec(block)?.[1] : undefined;
}
