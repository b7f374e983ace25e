import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'data/cache/',
      'runs/',
      'site/dist/',
      'src/engine/wasm/',
      '.jupyter/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Jupyter Notebook's page loads its extensions as AMD modules (require.js).
    files: ['notebooks/jupyter/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { define: 'readonly', document: 'readonly', window: 'readonly' },
    },
  },
);
