// ESLint (flat config): the recommended rules of ESLint and typescript-eslint over the project's
// TypeScript; `npm run lint` runs it and .ci/run fails on any finding.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // The plain scripts (bench, stress and page build drivers) run on Node.
  { files: ['**/*.mjs'], languageOptions: { globals: globals.node } },
  {
    rules: {
      // Unused names are the compiler's job (noUnusedLocals, noUnusedParameters), with its `_` convention.
      '@typescript-eslint/no-unused-vars': 'off',
    },
  },
);
