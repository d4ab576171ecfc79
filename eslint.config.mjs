// Typed linting for every TypeScript file; plain-JS build scripts get the recommended rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'scratch/**',
      'resources/**',
      'dist/**',
      'node_modules/**',
      'coverage/**',
      '.node-red-user/**',
      'bench/results/**',
    ],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.strictTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      // Node-RED node constructors conventionally keep `this` as `node` for their handlers.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true },
      ],
    },
  },
  // The layers (docs/ARCHITECTURE.md): node files -> nodes/support -> nodes/lib; the emulator stands
  // alone, an independent oracle that must never borrow the client's code.
  {
    files: ['nodes/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(node-red|@node-red/.*)$', message: 'nodes/lib is the pure core: no Node-RED.' },
            { regex: '(^|/)support(/|$)', message: 'nodes/lib must not import the Node-RED adapters.' },
            { regex: '(^|/)emulator(/|$)', message: 'nodes/lib must not import the emulator.' },
            { regex: '^\\.\\./aliyun-iot-', message: 'nodes/lib must not import node files.' },
          ],
        },
      ],
    },
  },
  {
    files: ['nodes/support/**/*.ts', 'nodes/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)emulator(/|$)', message: 'The nodes must not import the emulator.' }] },
      ],
    },
  },
  {
    files: ['emulator/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)nodes(/|$)',
              message: 'The emulator is an independent oracle: it must not import the client (nodes/).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'soak/**/*.ts'],
    rules: {
      // Lookups of runtime nodes name the type they expect at the call site.
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
      // node:test's describe/it return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  {
    files: ['nodes/*.html'],
    ignores: ['**'],
  },
);
