// Lint rules: typescript-eslint's recommended set with type information, plus the few rules
// that guard drainkit's own conventions (no floating promises: every drain step is awaited or
// deliberately voided; no process.exit outside the CLI entry point; no import cycles in src/).
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'Only the CLI entry point and the drainer exit path may end the process.' }],
    },
  },
  // No import cycles anywhere in src/: a cycle makes load order decide what a module sees (a
  // class or constant still undefined at import time), and hides which module depends on which.
  // Dynamic `import()` counts; `import type` does not (it is erased from the build). The
  // TypeScript resolver maps the `.js` specifiers to the `.ts` sources. Checked to fail on a
  // deliberate two-module cycle and on the registry's old store.ts <-> drivers cycle; about 10 s
  // for src/ on two shared cores.
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // How import-x reads the modules it follows (without this it cannot parse a .ts dependency
      // and sees no imports in it, so no cycle is ever found).
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  // The core takes Node's built-ins at run time from src/core/builtins.ts only: an ES import of a
  // built-in builds its ES facade, which runs every lazy getter (on Node 22+ `import 'node:http'`
  // loads undici, tls, http2 and zlib, about 2.5 MB of heap). Type imports are erased and allowed.
  // test/core/import-footprint.test.ts measures the result.
  {
    files: ['src/core/**/*.ts', 'src/index.ts'],
    ignores: ['src/core/builtins.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ regex: '^node:', allowTypeImports: true, message: 'Take the built-in from ./builtins.js (process.getBuiltinModule): an ES import of a built-in loads what its facade getters touch.' }],
      }],
    },
  },
  {
    files: ['test/**', 'bench/**', 'scripts/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      'no-restricted-properties': 'off',
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
    },
  },
  // Plain JavaScript (config, scripts, fixtures): no type information, Node's globals. Last, so
  // it overrides the type-aware rules the blocks above turn on for these folders.
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: Object.fromEntries(
        ['process', 'console', 'Buffer', 'URL', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'performance'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
