// Imports a file of the user's (outbox.config.*, prisma.config.*) the way Prisma
// loads prisma.config.ts: TypeScript or JavaScript, ESM or CommonJS, with whatever it
// imports or requires in turn (a generated Prisma client is TypeScript), and no
// loader for the user to install. tsx's hooks are registered for ESM and CommonJS
// once, for the rest of this process: only the `outbox` command loads user files.
// Chosen over jiti, which loads .ts files too but breaks @prisma/client's runtime
// through its CommonJS interop (checked: "Cannot read properties of undefined (reading 'sep')").
import { pathToFileURL } from 'node:url';
import { register as registerCommonJs } from 'tsx/cjs/api';
import { register as registerEsm } from 'tsx/esm/api';

let registered = false;

export async function importUserModule(file: string): Promise<{ default?: unknown }> {
  if (!registered) {
    registerEsm();
    registerCommonJs();
    registered = true;
  }
  const module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  // A CommonJS module arrives as { default: module.exports }, and exports may hold a default of its own.
  let exported = module.default as { default?: unknown } | undefined;
  if (exported && typeof exported === 'object' && 'default' in exported && exported.default !== undefined) exported = exported.default as typeof exported;
  return { default: exported };
}
