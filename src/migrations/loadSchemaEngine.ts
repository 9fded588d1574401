// Prisma's schema engine, in its WebAssembly build, driven through the pg driver
// adapter. The `prisma` CLI downloads a native schema engine on every command;
// this works on machines that cannot download anything.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import pg from 'pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import { WholeScriptPgAdapterFactory } from './wholeScriptPgAdapterFactory.js';

export type { SchemaEngine };

export interface SchemaFile {
  path: string;
  content: string;
}

let instantiated: Promise<void> | undefined;
let lastPanicMessage: string | undefined;

// The package's entry imports its .wasm file directly, which Node 20 refuses
// without a flag; instantiate the same module by hand, once per process.
function instantiateEngine(): Promise<void> {
  instantiated ??= (async () => {
    // The engine reports a Rust panic's message through this global before throwing.
    Object.assign(globalThis, {
      PRISMA_WASM_PANIC_REGISTRY: {
        set_message(message: string) {
          lastPanicMessage = message;
        },
      },
    });
    const require = createRequire(import.meta.url);
    // The package's exports map names the bindings, not the .wasm beside them.
    const bindingsPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmPath = bindingsPath.replace(/\.js$/, '.wasm');
    const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), {
      './schema_engine_bg.js': engineBindings,
    });
    engineBindings.__wbg_set_wasm(instance.exports);
    const start = instance.exports.__wbindgen_start;
    if (typeof start !== 'function') throw new Error('@prisma/schema-engine-wasm: __wbindgen_start is missing');
    (start as () => void)();
  })();
  return instantiated;
}

/** A panic inside the engine, with the message it reported. */
export function describeEngineFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (lastPanicMessage === undefined) return message;
  const panic = lastPanicMessage;
  lastPanicMessage = undefined;
  return `${message} (schema engine panic: ${panic})`;
}

export interface EngineLogSink {
  (line: string): void;
}

export interface OpenSchemaEngine {
  engine: SchemaEngine;
  /** Frees the engine and closes its database connections. */
  close(): Promise<void>;
}

/** A schema engine bound to one database, over a connection pool we own and close. */
export async function loadSchemaEngine(databaseUrl: string, schemaFiles: SchemaFile[], onLog: EngineLogSink = () => {}): Promise<OpenSchemaEngine> {
  await instantiateEngine();
  // Our own pool: freeing the engine does not close the adapter's connections, and
  // a lingering connection would, among other things, keep the database from being
  // used as a template or dropped.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // An idle connection dropped by the server must not crash the process; the engine's next query reports it.
  pool.on('error', () => {});
  const adapterFactory = bindMigrationAwareSqlAdapterFactory(new WholeScriptPgAdapterFactory(pool));
  try {
    const engine = await engineBindings.SchemaEngine.new({ datamodels: schemaFiles.map((file) => [file.path, file.content]) }, onLog, adapterFactory);
    return {
      engine,
      async close() {
        engine.free();
        await pool.end();
      },
    };
  } catch (error) {
    await pool.end();
    throw error;
  }
}
