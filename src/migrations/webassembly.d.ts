// The one WebAssembly call loadSchemaEngine makes. TypeScript declares the
// WebAssembly namespace only in its DOM libs, which a Node library should not pull in.
declare namespace WebAssembly {
  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  function instantiate(bytes: Uint8Array, imports: Record<string, Record<string, unknown>>): Promise<{ instance: Instance }>;
}
