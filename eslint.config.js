// Lint: ESLint's and typescript-eslint's recommended rules, type-aware, with
// the settings this codebase relies on stated (and explained) here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeGlobals = { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' };

export default tseslint.config(
  { ignores: ['dist/', 'docs/api/', 'coverage/', '.cache/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Unused arguments named _x are deliberate (callbacks with fixed signatures).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Promises are either awaited or explicitly discarded with `void`; node:test's
      // test()/describe() return promises the runner itself tracks.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' }] },
      ],
      // `array[i]!` is written out on purpose: the code stays correct if
      // noUncheckedIndexedAccess is turned on, where these are required.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Errors from Node callbacks and stored failures are passed on as they
      // came (typed unknown); every error the library makes is a LocalSocketError.
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      // `catch {}` marks a best-effort step whose failure changes nothing.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // `async` without `await` is how a function that validates synchronously
      // still reports every failure as a rejection.
      '@typescript-eslint/require-await': 'off',
      // A `let` read by a closure before its one assignment cannot be `const` (TDZ).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Inside stream callbacks `this` is the stream: the socket is named.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['socket'] }],
      // Control characters in regexes are how we strip them from messages.
      'no-control-regex': 'off',
    },
  },
  {
    // Tests print whatever a failing value was, and read JSON from child processes.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // Plain JavaScript scripts: no type information.
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: nodeGlobals },
  },
);
