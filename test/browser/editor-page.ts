// What the browser tests share: the editor in headless Chromium (Debian's, driven by playwright-core)
// against a real Node-RED that loads this checkout, with the emulator behind it; the dialogs'
// helpers; and a product with a small thing model to import.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Emulator, EmulatorOptions } from '../../emulator/index';
import * as nr from '../../scripts/node-red-process';
import { start } from '../helpers/emulator';

export const CHROMIUM = '/usr/bin/chromium';

export interface EditorApi {
  view: { importNodes(nodes: Record<string, unknown>[]): void };
  workspaces: { active(): string };
  editor: { edit(node: unknown): void };
  nodes: { node(id: string): unknown };
}
export const ARTIFACTS = join(nr.root, '.test-output', 'screenshots');

export async function openEditor(browser: Browser, url: string, locale: string): Promise<Page> {
  const context = await browser.newContext({ locale, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  // The first editor load starts Chromium's caches while other test files run: on a busy 2-core
  // machine it took over 30 s once, so the deadlines are generous (an event is waited for, not a time).
  await page.goto(url, { timeout: 60_000 });
  await page.waitForSelector('#red-ui-palette-header-Aliyun_IoT', { timeout: 60_000 });
  // Node-RED's notifications (one stayed for over 30 s on a machine busy with other test files)
  // sit over the dialogs' buttons and took the clicks meant for them. No test clicks one.
  await page.addStyleTag({ content: '#red-ui-notifications { pointer-events: none; }' });
  return page;
}

/** Opens the config dialog of a new device through the `+` beside a new publish node's device field. */
export async function openConfigDialog(page: Page, id: string): Promise<void> {
  await page.evaluate((nodeId) => {
    // The editor's own API, typed just as far as used here.
    const RED = (window as unknown as { RED: EditorApi }).RED;
    RED.view.importNodes([
      {
        id: nodeId,
        type: 'aliyun-iot-publish',
        x: 260,
        y: 120,
        z: RED.workspaces.active(),
        topic: 'user/update',
        qos: '1',
        device: '',
      },
    ]);
    RED.editor.edit(RED.nodes.node(nodeId));
  }, id);
  await page
    .locator('#node-input-device')
    .locator('xpath=..')
    .locator('a:has(i.fa-plus), button:has(i.fa-plus)')
    .first()
    .click();
  await page.waitForSelector('#node-config-input-productKey');
}

/**
 * Switches the device config dialog to one of its tabs. Node-RED's tabs take two clicks within 400 ms
 * (on any two tabs) for a double click and do not switch, so a click that did not switch is repeated.
 */
export async function showTab(page: Page, name: 'connection' | 'authentication' | 'tls' | 'delivery'): Promise<void> {
  const content = page.locator(`#aliyun-iot-device-tab-${name}`);
  const until = Date.now() + 15_000;
  while (!(await content.isVisible())) {
    if (Date.now() > until) throw new Error(`tab ${name} did not open`);
    await page.click(`#red-ui-tab-aliyun-iot-device-tab-${name} a`);
    await content.waitFor({ state: 'visible', timeout: 1000 }).catch(() => undefined);
  }
}

export async function tabLabels(page: Page): Promise<string[]> {
  return (await page.locator('#node-config-aliyun-iot-device-tabs .red-ui-tab-label').allTextContents()).map((t) =>
    t.trim(),
  );
}

export async function optionTexts(page: Page, field: string): Promise<string[]> {
  return (await page.locator(`#node-config-input-${field} option`).allTextContents()).map((t) => t.trim());
}

export interface EditorSuite {
  emu: Emulator;
  red: nr.NodeRedProcess;
  browser: Browser;
  /** The editor in en-US. */
  page: Page;
}

/**
 * Registers the suite's hooks in the calling `describe`: an emulator, Node-RED loading this
 * checkout, Chromium with the editor open in en-US; all closed after the suite.
 */
export function editorSuite(options: EmulatorOptions): () => EditorSuite {
  let suite: EditorSuite | undefined;
  // What has started so far: closed after the suite even when a later step failed (a Node-RED left
  // running would keep the test process alive until the runner's timeout).
  const started: Partial<Omit<EditorSuite, 'page'>> = {};
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const emu = (started.emu = await start(options));
    const userDir = nr.linkedUserDir(nr.freshDir(mkdtempSync(join(tmpdir(), 'aliyun-iot-browser-'))));
    const port = await nr.freePort();
    nr.writeSettings(userDir, { port });
    const red = (started.red = nr.startNodeRed({ userDir, port }));
    await red.ready;
    const browser = (started.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    }));
    suite = { emu, red, browser, page: await openEditor(browser, red.url, 'en-US') };
  });
  after(async () => {
    await started.browser?.close();
    await started.red?.stop();
    await started.emu?.close();
  });
  return () => {
    if (!suite) throw new Error('the editor suite has not started');
    return suite;
  };
}

/** A product with a small thing model, its device, an event and a command node, in the open workspace. */
export async function importThingNodes(p: Page, suffix: string): Promise<void> {
  const field = (identifier: string, dataType: unknown) => ({ identifier, name: identifier, dataType });
  const tsl = {
    properties: [{ ...field('Mode', { type: 'enum', specs: { '0': 'auto', '1': 'eco' } }), accessMode: 'rw' }],
    events: [
      {
        identifier: 'Alarm',
        name: 'Alarm',
        type: 'alert',
        outputData: [field('Level', { type: 'int', specs: { min: '1', max: '5' } })],
      },
    ],
    services: [
      {
        identifier: 'ToggleRelay',
        name: 'Toggle relay',
        callType: 'sync',
        inputData: [field('On', { type: 'bool', specs: { '0': 'off', '1': 'on' } })],
        outputData: [field('Relay', { type: 'bool', specs: { '0': 'off', '1': 'on' } })],
      },
    ],
  };
  await p.evaluate(
    ({ s, tslText }) => {
      const RED = (window as unknown as { RED: EditorApi }).RED;
      const z = RED.workspaces.active();
      RED.view.importNodes([
        { id: `prod${s}`, type: 'aliyun-iot-product', name: 'lamp', productKey: 'a1Lamp', tsl: tslText },
        { id: `dev${s}`, type: 'aliyun-iot-device', productKey: '', product: `prod${s}`, deviceName: 'lamp-1' },
        { id: `ev${s}`, type: 'aliyun-iot-event', x: 200, y: 400, z, device: `dev${s}`, event: '' },
        { id: `cmd${s}`, type: 'aliyun-iot-command', x: 200, y: 460, z, device: `dev${s}`, service: '' },
        { id: `reply${s}`, type: 'aliyun-iot-reply', x: 400, y: 460, z, device: `dev${s}` },
      ]);
    },
    { s: suffix, tslText: JSON.stringify(tsl) },
  );
}

/** Opens a flow node's dialog, or a config node's (product) through the config editor. */
export async function edit(p: Page, id: string, configType?: string): Promise<void> {
  await p.evaluate(
    ({ nodeId, type }) => {
      const RED = (
        window as unknown as { RED: EditorApi & { editor: { editConfig(n: string, t: string, id: string): void } } }
      ).RED;
      if (type) RED.editor.editConfig('', type, nodeId);
      else RED.editor.edit(RED.nodes.node(nodeId));
    },
    { nodeId: id, type: configType },
  );
}
