#!/usr/bin/env node
// Compiles the TypeScript into dist/ and lays the editor files beside the compiled nodes, where
// Node-RED looks for them: dist/nodes/<type>.html, dist/nodes/icons, dist/nodes/locales, dist/certs.
'use strict';
const { execFileSync } = require('node:child_process');
const { cpSync, existsSync, readdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});

for (const file of readdirSync(join(root, 'nodes'))) {
  if (file.endsWith('.html')) cpSync(join(root, 'nodes', file), join(dist, 'nodes', file));
}
const copies = [
  ['icons', join('nodes', 'icons')],
  ['locales', join('nodes', 'locales')],
  ['certs', 'certs'],
];
for (const [from, to] of copies) {
  if (existsSync(join(root, from))) cpSync(join(root, from), join(dist, to), { recursive: true });
}
