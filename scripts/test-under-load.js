#!/usr/bin/env node
// Runs the test suite (or the paths given) while CPU-bound processes keep every core busy, as on a
// developer's machine that is compiling something else. A test that assumes a quiet machine (a
// fixed sleep, a deadline only an idle machine meets) fails here first. `BUSY` sets how many.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { join } = require('node:path');

const busy = Number(process.env.BUSY ?? 2);
const hogs = Array.from({ length: busy }, () => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
const stop = () => {
  for (const hog of hogs) hog.kill('SIGKILL');
};
process.on('exit', stop);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

console.log(`# ${busy} CPU-bound processes running alongside the tests`);
const result = spawnSync(process.execPath, [join(__dirname, 'test.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
});
stop();
process.exit(result.status ?? 1);
