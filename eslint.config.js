// Lint: ESLint's recommended rules and typescript-eslint's type-aware ones, over
// everything the type check covers. Formatting is prettier's (`npm run format`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'generated/', 'node_modules/', 'coverage/', '.demo/', '.chaos/', 'scratch/', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A promise nobody awaits must say so (`void`): an unhandled rejection ends a process.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // An abort signal's reason is rejected as it is (an Error by our own aborts, whatever a caller gave).
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      // The Prisma client extension's methods receive the transaction client as `this`.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['tx'] }],
      // Components are closures over their state, not classes: functions are passed around
      // unbound on purpose, and `async` marks a promise contract (hooks, handlers) even
      // where a body happens not to await.
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      // Header values, error causes and the like are stringified on purpose, whatever they hold.
      '@typescript-eslint/no-base-to-string': 'off',
      // prettier's width; string literals excepted (prettier keeps them whole, and log
      // messages and SQL stay greppable).
      'max-len': ['error', { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
  {
    // Tests, benchmarks, examples and scripts read pg rows and JSON reports, typed `any`
    // by their drivers; the library's own code narrows what it reads.
    files: ['test/**', 'bench/**', 'examples/**', 'scripts/**', '*.config.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
);
