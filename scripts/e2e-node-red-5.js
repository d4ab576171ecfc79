#!/usr/bin/env node
// The end-to-end run on Node-RED 5, which needs Node 22.9+: Node 22 comes from the npm package
// `node@22`, Node-RED 5 is installed into .cache/node-red-5; then the tarball's end-to-end tests
// (the examples, and the cloud side's shared consumer group) run against them.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { existsSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

const node22 = execFileSync(npx, ['-y', '-p', 'node@22', 'node', '-e', 'process.stdout.write(process.execPath)'], {
  encoding: 'utf8',
}).trim();
const version = execFileSync(node22, ['--version'], { encoding: 'utf8' }).trim();

const dir = join(root, '.cache', 'node-red-5');
const redJs = join(dir, 'node_modules', 'node-red', 'red.js');
if (!existsSync(redJs)) {
  mkdirSync(dir, { recursive: true });
  execFileSync(npm, ['install', 'node-red@5', '--prefix', dir, '--no-audit', '--no-fund', '--engine-strict=false'], {
    stdio: 'inherit',
  });
}
const redVersion = require(join(dir, 'node_modules', 'node-red', 'package.json')).version;
console.log(`Node-RED ${redVersion} on Node ${version}`);

const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-timeout=300000',
    'test/e2e/tarball.test.ts',
    'test/e2e/cloud.test.ts',
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, E2E_NODE_BINARY: node22, E2E_RED_JS: redJs } },
);
process.exit(result.status ?? 1);
