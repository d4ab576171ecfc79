// The package as a user gets it, for the end-to-end tests: `npm pack`, installed into a fresh
// Node-RED user directory (as the palette manager does), run by a real Node-RED process.
// E2E_NODE_BINARY / E2E_RED_JS run them on another Node and Node-RED (scripts/e2e-node-red-5.js).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as nr from '../../scripts/node-red-process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Which Node-RED the tests run on, for their titles. */
export const NODE_RED_UNDER_TEST = process.env.E2E_RED_JS ? 'the given' : 'the devDependency';

/** Packs the package and installs the tarball into `<work>/user`, a fresh user directory. */
export function installPackedTarball(prefix = 'aliyun-iot-e2e-'): { work: string; userDir: string } {
  const work = mkdtempSync(join(tmpdir(), prefix));
  // dist/ is already built by `npm test`; packing must not rebuild it under the other test files.
  const tarball = execFileSync(npm, ['pack', '--ignore-scripts', '--pack-destination', work], {
    cwd: nr.root,
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .at(-1)!;
  const userDir = nr.freshDir(join(work, 'user'));
  execFileSync(npm, ['init', '-y'], { cwd: userDir, stdio: 'ignore' });
  execFileSync(npm, ['install', join(work, tarball), '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: userDir,
    stdio: 'pipe',
  });
  // A dist/ being rebuilt while it was packed (a build running beside the tests) lacks files: say so
  // here rather than as nodes that never start. Each node's module (and what it requires) must load.
  const installed = join(userDir, 'node_modules', nr.PACKAGE);
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    'node-red': { nodes: Record<string, string> };
  };
  const files = Object.values(manifest['node-red'].nodes).map((file) => join(installed, file));
  const loadAll = 'for (const f of JSON.parse(process.argv[1])) require(f);';
  try {
    execFileSync(process.execPath, ['-e', loadAll, JSON.stringify(files)], { stdio: 'pipe' });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? err)
      .split('\n')
      .slice(0, 5)
      .join('\n');
    throw new Error(`the installed package does not load (was dist/ rebuilt while it was packed?):\n${stderr}`);
  }
  return { work, userDir };
}

/** Another user directory with the same installation (its package.json and node_modules copied). */
export function copyInstallation(userDir: string, to: string): string {
  nr.freshDir(to);
  cpSync(join(userDir, 'package.json'), join(to, 'package.json'));
  cpSync(join(userDir, 'node_modules'), join(to, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  return to;
}

/** A Node-RED process on the user directory (settings written already), on the Node-RED under test. */
export function startNodeRedUnderTest(userDir: string, port: number): nr.NodeRedProcess {
  return nr.startNodeRed({
    userDir,
    port,
    nodeBinary: process.env.E2E_NODE_BINARY || process.execPath,
    redJs: process.env.E2E_RED_JS || require.resolve('node-red/red.js'),
  });
}
