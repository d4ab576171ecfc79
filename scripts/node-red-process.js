// A real Node-RED process with a user directory that loads this package: used by `npm start`, the
// end-to-end tests and the browser tests.
'use strict';
const { spawn } = require('node:child_process');
const { mkdirSync, writeFileSync, existsSync, symlinkSync, rmSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { join } = require('node:path');

const root = join(__dirname, '..');
const PACKAGE = '@iotflow/node-red-aliyun-iot';

/** Settings for a local, unauthenticated editor bound to loopback, with encrypted credentials. */
function writeSettings(
  userDir,
  { port, host = '127.0.0.1', credentialSecret = 'aliyun-iot-local', lang, contextStorage } = {},
) {
  const settings = {
    uiPort: port,
    uiHost: host,
    flowFile: 'flows.json',
    credentialSecret,
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    externalModules: { palette: { allowInstall: true } },
    editorTheme: { tours: false, projects: { enabled: false } },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
  if (lang) settings.lang = lang;
  if (contextStorage) settings.contextStorage = contextStorage;
  writeFileSync(join(userDir, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
}

/** A user directory whose node_modules links to this checkout (what `npm start` and the browser tests use). */
function linkedUserDir(userDir) {
  mkdirSync(join(userDir, 'node_modules', '@iotflow'), { recursive: true });
  const link = join(userDir, 'node_modules', PACKAGE);
  if (!existsSync(link)) symlinkSync(root, link, 'dir');
  if (!existsSync(join(userDir, 'package.json'))) {
    writeFileSync(
      join(userDir, 'package.json'),
      JSON.stringify({ name: 'node-red-user', private: true, dependencies: { [PACKAGE]: 'file:' + root } }, null, 2),
    );
  }
  return userDir;
}

function freshDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Resolves when nothing listens on host:port, rejects with code EADDRINUSE otherwise. */
function assertPortFree(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err) => reject(Object.assign(err, { port })));
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts Node-RED (by default the devDependency, on this Node) and resolves once its editor answers.
 * `nodeBinary` and `redJs` let the Node-RED 5 check run another Node and another Node-RED.
 */
function startNodeRed({
  userDir,
  port,
  nodeBinary = process.execPath,
  redJs = require.resolve('node-red/red.js'),
  stdio = 'pipe',
  timeoutMs = 60_000,
}) {
  const child = spawn(nodeBinary, [redJs, '-u', userDir, '-s', join(userDir, 'settings.js')], {
    stdio: stdio === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_RED_ENABLE_PROJECTS: 'false' },
  });
  let log = '';
  child.stdout?.on('data', (d) => (log += d.toString()));
  child.stderr?.on('data', (d) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const ready = (async () => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Node-RED exited (${child.exitCode}):\n${log}`);
      if (Date.now() > until) throw new Error(`Node-RED did not answer on ${url} within ${timeoutMs} ms:\n${log}`);
      const status = await request('GET', `${url}/settings`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    child,
    url,
    log: () => log,
    ready,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A JSON request over plain HTTP (the Admin API on loopback). */
function request(method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      { method, headers: { 'content-type': 'application/json', ...headers }, timeout: 15_000 },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(raw);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, body: json, text: raw });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(text);
  });
}

/** A full deploy through the Admin API, credentials inline on the nodes as the editor sends them. */
async function deployFlows(url, flows) {
  const res = await request('POST', `${url}/flows`, flows, {
    'Node-RED-Deployment-Type': 'full',
    'Node-RED-API-Version': 'v1',
  });
  if (res.status !== 204 && res.status !== 200) throw new Error(`deploy failed: ${res.status} ${res.text}`);
}

module.exports = {
  root,
  PACKAGE,
  writeSettings,
  linkedUserDir,
  freshDir,
  assertPortFree,
  freePort,
  startNodeRed,
  request,
  deployFlows,
};
