// The editor in headless Chromium (Debian's, driven by playwright-core) against a real Node-RED
// that loads this checkout, with the emulator behind it.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Emulator } from '../../emulator/index';
import { DEMO_DEVICE, DEMO_GATEWAY, DEMO_GATEWAY_PRODUCT, DEMO_SUB_DEVICES } from '../../emulator/cli-args';
import * as nr from '../../scripts/node-red-process';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { demoFlow } = require('../../scripts/demo-flow') as { demoFlow: (o: Record<string, unknown>) => unknown[] };
import { eventually, start } from '../helpers/emulator';
import { readExample } from '../helpers/examples';

const CHROMIUM = '/usr/bin/chromium';

interface EditorApi {
  view: { importNodes(nodes: Record<string, unknown>[]): void };
  workspaces: { active(): string };
  editor: { edit(node: unknown): void };
  nodes: { node(id: string): unknown };
}
const ARTIFACTS = join(nr.root, '.test-output', 'screenshots');

async function openEditor(browser: Browser, url: string, locale: string): Promise<Page> {
  const context = await browser.newContext({ locale, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  // The first editor load starts Chromium's caches while other test files run: on a busy 2-core
  // machine it took over 30 s once, so the deadlines are generous (an event is waited for, not a time).
  await page.goto(url, { timeout: 60_000 });
  await page.waitForSelector('#red-ui-palette-header-Aliyun_IoT', { timeout: 60_000 });
  return page;
}

/** Opens the config dialog of a new device through the `+` beside a new publish node's device field. */
async function openConfigDialog(page: Page, id: string): Promise<void> {
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
async function showTab(page: Page, name: 'connection' | 'authentication' | 'tls' | 'delivery'): Promise<void> {
  const content = page.locator(`#aliyun-iot-device-tab-${name}`);
  const until = Date.now() + 15_000;
  while (!(await content.isVisible())) {
    if (Date.now() > until) throw new Error(`tab ${name} did not open`);
    await page.click(`#red-ui-tab-aliyun-iot-device-tab-${name} a`);
    await content.waitFor({ state: 'visible', timeout: 1000 }).catch(() => undefined);
  }
}

async function tabLabels(page: Page): Promise<string[]> {
  return (await page.locator('#node-config-aliyun-iot-device-tabs .red-ui-tab-label').allTextContents()).map((t) =>
    t.trim(),
  );
}

async function optionTexts(page: Page, field: string): Promise<string[]> {
  return (await page.locator(`#node-config-input-${field} option`).allTextContents()).map((t) => t.trim());
}

describe('editor in Chromium', () => {
  let emu: Emulator;
  let red: nr.NodeRedProcess;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
    mkdirSync(ARTIFACTS, { recursive: true });
    emu = await start({ devices: [DEMO_DEVICE, DEMO_GATEWAY, ...DEMO_SUB_DEVICES], products: [DEMO_GATEWAY_PRODUCT] });
    const userDir = nr.linkedUserDir(nr.freshDir(mkdtempSync(join(tmpdir(), 'aliyun-iot-browser-'))));
    const port = await nr.freePort();
    nr.writeSettings(userDir, { port });
    red = nr.startNodeRed({ userDir, port });
    await red.ready;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = await openEditor(browser, red.url, 'en-US');
  });

  after(async () => {
    await browser.close();
    await red.stop();
    await emu.close();
  });

  it('shows every node under "Aliyun IoT" in the palette', async () => {
    const header = page.locator('#red-ui-palette-header-Aliyun_IoT');
    assert.equal((await header.textContent())?.trim(), 'Aliyun IoT');
    const types = ['connect', 'publish', 'subscribe', 'auth', 'property', 'event', 'command', 'reply', 'time'].map(
      (t) => `aliyun-iot-${t}`,
    );
    for (const type of types) {
      assert.equal(
        await page.locator(`#red-ui-palette-container-Aliyun_IoT [data-palette-type="${type}"]`).count(),
        1,
        type,
      );
    }
  });

  it('config dialog in tabs: invalid keepalive and clientId are red, the filled dialog saves, deploy goes green', async () => {
    await openConfigDialog(page, 'pub1');
    // The first tab holds what a first-time user needs.
    assert.deepEqual(await tabLabels(page), ['Connection', 'Authentication', 'TLS', 'Delivery']);
    for (const id of ['productKey', 'deviceName', 'deviceSecret', 'gateway', 'endpoint', 'regionId'])
      assert.ok(await page.locator(`#node-config-input-${id}`).isVisible(), id);
    // Through a gateway, what the gateway owns (endpoint, transport, port) is hidden; without, it is back.
    const pickGateway = (value: string) =>
      page.evaluate((v) => {
        type Jq = { append(o: unknown): Jq; val(v: string): Jq; trigger(e: string): Jq; text(t: string): Jq };
        const $ = (window as unknown as { $: (s: string) => Jq }).$;
        const select = $('#node-config-input-gateway');
        if (v !== '_ADD_') select.append($('<option></option>').val(v).text('a gateway'));
        select.val(v).trigger('change');
      }, value);
    await pickGateway('gateway-config-id');
    for (const id of ['endpoint', 'regionId', 'transport', 'port'])
      assert.ok(!(await page.locator(`#node-config-input-${id}`).isVisible()), `${id} hidden for a sub-device`);
    // Registering through the gateway needs no ProductSecret; the TLS tab says whose TLS applies.
    await showTab(page, 'authentication');
    await page.selectOption('#node-config-input-authMode', 'register');
    assert.ok(!(await page.locator('#node-config-input-productSecret').isVisible()), 'no ProductSecret');
    assert.ok(!(await page.locator('#node-config-input-registerVia').isVisible()));
    assert.ok(await page.locator('#node-config-input-secretStore').isVisible());
    await page.selectOption('#node-config-input-authMode', 'sign');
    await showTab(page, 'tls');
    assert.ok(await page.locator('.aliyun-iot-tls-via-gateway').isVisible());
    assert.ok(!(await page.locator('.aliyun-iot-no-tls').isVisible()));
    await showTab(page, 'connection');
    await pickGateway('_ADD_');
    for (const id of ['endpoint', 'transport', 'port'])
      assert.ok(await page.locator(`#node-config-input-${id}`).isVisible(), `${id} back`);
    assert.deepEqual(await optionTexts(page, 'transport'), [
      'MQTT over TLS',
      'MQTT over TCP (unencrypted)',
      'MQTT over WebSocket (wss)',
      'MQTT over WebSocket (ws, unencrypted)',
    ]);
    await page.fill('#node-config-input-productKey', DEMO_DEVICE.productKey);
    await page.fill('#node-config-input-deviceName', DEMO_DEVICE.deviceName);
    await page.fill('#node-config-input-deviceSecret', DEMO_DEVICE.deviceSecret ?? '');
    await page.selectOption('#node-config-input-endpoint', 'custom');
    await page.fill('#node-config-input-host', emu.host);
    await page.selectOption('#node-config-input-transport', 'tcp');
    // Rows and placeholders follow the field table: a custom host has no region, TCP's port is 1883.
    assert.ok(!(await page.locator('#node-config-input-regionId').isVisible()));
    assert.equal(await page.locator('#node-config-input-port').getAttribute('placeholder'), '1883');
    await page.fill('#node-config-input-port', String(emu.ports.mqtt));
    await page.screenshot({ path: join(ARTIFACTS, 'config-connection.png') });
    await showTab(page, 'delivery');
    await page.fill('#node-config-input-keepalive', '10');
    await page.locator('#node-config-input-keepalive').press('Tab');
    await page.waitForSelector('#node-config-input-keepalive.input-error');
    await page.screenshot({ path: join(ARTIFACTS, 'config-delivery.png') });
    await showTab(page, 'authentication');
    await page.fill('#node-config-input-clientId', 'c'.repeat(65));
    await page.locator('#node-config-input-clientId').press('Tab');
    await page.waitForSelector('#node-config-input-clientId.input-error');
    await page.screenshot({ path: join(ARTIFACTS, 'config-dialog.png') });
    await page.fill('#node-config-input-clientId', '');
    await page.locator('#node-config-input-clientId').press('Tab');
    await showTab(page, 'delivery');
    await page.fill('#node-config-input-keepalive', '60');
    await page.locator('#node-config-input-keepalive').press('Tab');
    assert.equal(await page.locator('#node-config-input-keepalive.input-error').count(), 0);
    assert.equal(await page.locator('#node-config-input-clientId.input-error').count(), 0);
    // Authentication modes: token logins need TLS (the TCP transport on the first tab turns red),
    // registration asks for the ProductSecret; back on `sign` the dialog is valid again.
    await showTab(page, 'authentication');
    await page.selectOption('#node-config-input-authMode', 'https');
    await page.waitForSelector('#node-config-input-transport.input-error', { state: 'attached' });
    assert.ok(await page.locator('#node-config-input-authHost').isVisible());
    assert.ok(!(await page.locator('#node-config-input-productSecret').isVisible()));
    await page.selectOption('#node-config-input-authMode', 'register');
    assert.ok(await page.locator('#node-config-input-productSecret').isVisible());
    await page.selectOption('#node-config-input-authMode', 'sign');
    await page.locator('#node-config-input-authMode').press('Tab');
    assert.equal(await page.locator('#node-config-input-transport.input-error').count(), 0);
    assert.ok(!(await page.locator('#node-config-input-authHost').isVisible()));
    await showTab(page, 'tls');
    await page.screenshot({ path: join(ARTIFACTS, 'config-tls.png') });
    await page.click('#node-config-dialog-ok');
    // The publish node's topic and payload are TypedInputs; a node from an older flow gets msg.payload.
    await page.waitForSelector('#node-input-device');
    assert.equal(await page.locator('.red-ui-typedInput-container:visible').count(), 2);
    assert.equal(await page.locator('#node-input-payload').inputValue(), 'payload');
    assert.equal(await page.locator('#node-input-payloadType').inputValue(), 'msg');
    await page.click('#node-dialog-ok');
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(
      () =>
        Array.from(document.querySelectorAll('.red-ui-flow-node-status-label')).some(
          (e) => e.textContent === 'connected',
        ),
      undefined,
      { timeout: 20_000 },
    );
    assert.equal(await page.locator('.red-ui-flow-node-status-dot-green').count(), 1);
    await eventually(
      () => emu.registry.device(DEMO_DEVICE.productKey, DEMO_DEVICE.deviceName)?.online === true,
      2000,
      'online',
    );
    await page.screenshot({ path: join(ARTIFACTS, 'flow.png') });
  });

  it('the npm start demo flow runs: readings go up, the cloud property set comes down', async () => {
    const caPath = join(mkdtempSync(join(tmpdir(), 'aliyun-iot-ca-')), 'ca.pem');
    writeFileSync(caPath, emu.ca);
    await nr.deployFlows(red.url, demoFlow({ host: emu.host, ports: emu.ports, caPem: emu.ca, caPath }));
    await page.reload();
    await page.waitForSelector('#red-ui-palette-header-Aliyun_IoT', { timeout: 30_000 });
    const device = emu.registry.device(DEMO_DEVICE.productKey, DEMO_DEVICE.deviceName)!;
    const out = device.counters.messagesOut;
    await page.waitForFunction(
      () => document.querySelectorAll('.red-ui-flow-node-status-dot-green').length >= 3,
      undefined,
      { timeout: 20_000 },
    );
    await page
      .waitForFunction(() => document.querySelectorAll('.red-ui-debug-msg').length >= 2, undefined, { timeout: 20_000 })
      .catch(() => undefined);
    await page.evaluate(() => {
      (window as unknown as { RED: { sidebar: { show(t: string): void } } }).RED.sidebar.show('debug');
    });
    await new Promise((r) => setTimeout(r, 5500));
    assert.ok(
      device.uplink.some((m) => m.topic.endsWith('/user/update')),
      'readings published',
    );
    assert.ok(device.counters.messagesOut > out, 'property set delivered to the device');
    await page.screenshot({ path: join(ARTIFACTS, 'demo-flow.png') });
  });

  it('the gateway example runs: every sub-device shows connected through the one gateway', async () => {
    const flow = readExample('gateway', emu);
    await nr.deployFlows(red.url, flow);
    await page.reload();
    await page.waitForSelector('#red-ui-palette-header-Aliyun_IoT', { timeout: 30_000 });
    // Three property nodes, three command nodes and three reply nodes of sub-devices: all connected.
    await page.waitForFunction(
      () => document.querySelectorAll('.red-ui-flow-node-status-dot-green').length >= 9,
      undefined,
      { timeout: 30_000 },
    );
    const meters = DEMO_SUB_DEVICES.map((d) => emu.registry.device(d.productKey, d.deviceName)!);
    assert.ok(meters.every((m) => m.online && m.via === `${DEMO_GATEWAY.productKey}&${DEMO_GATEWAY.deviceName}`));
    await page.screenshot({ path: join(ARTIFACTS, 'gateway-flow.png') });
  });

  /** A product with a small thing model, its device, an event and a command node, in the open workspace. */
  async function importThingNodes(p: Page, suffix: string): Promise<void> {
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
  async function edit(p: Page, id: string, configType?: string): Promise<void> {
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

  it("thing model: the product dialog reads the TSL; event and command nodes offer the model's identifiers", async () => {
    await importThingNodes(page, 'T');
    await edit(page, 'evT');
    await page.waitForSelector('#node-input-event');
    const options = await page
      .locator('#aliyun-iot-event-identifiers option')
      .evaluateAll((els) => els.map((e) => [(e as HTMLOptionElement).value, e.textContent]));
    assert.deepEqual(options, [['Alarm', 'Alarm · alert']]);
    await page.fill('#node-input-event', 'Alarm');
    await page.locator('#node-input-event').dispatchEvent('input');
    await page.waitForSelector('.aliyun-iot-schema:visible');
    assert.match(await page.locator('.aliyun-iot-schema:visible').innerText(), /Level: int 1\.\.5/);
    await page.screenshot({ path: join(ARTIFACTS, 'tsl-event-picker.png') });
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('#node-input-payloadType', { state: 'detached' });
    // Data typed into the node is checked by the runtime's own validator (dialog closed: the node's values).
    const verdicts = await page.evaluate(() => {
      type Validate = (this: unknown, v: string, opt?: object) => unknown;
      const RED = (
        window as unknown as {
          RED: { nodes: { getType(t: string): { defaults: { payload: { validate: Validate } } } } };
        }
      ).RED;
      const validate = RED.nodes.getType('aliyun-iot-event').defaults.payload.validate;
      const node = { payloadType: 'json', device: 'devT', event: 'Alarm' };
      return [validate.call(node, '{"Level": 3}', {}), validate.call(node, '{"Level": 9}', {})];
    });
    assert.deepEqual(verdicts, [true, 'Alarm.Level: 9 is outside the range 1 to 5']);
    await edit(page, 'cmdT');
    await page.waitForSelector('#node-input-service');
    assert.equal(await page.locator('#aliyun-iot-service-identifiers option').getAttribute('value'), 'ToggleRelay');
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('#node-input-service', { state: 'detached' });
    // The reply node lists what each service answers with.
    await edit(page, 'replyT');
    await page.waitForSelector('.aliyun-iot-schema:visible');
    assert.match(
      await page.locator('.aliyun-iot-schema:visible').innerText(),
      /ToggleRelay \(Toggle relay · sync\)\nRelay: bool/,
    );
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('.aliyun-iot-schema', { state: 'detached' });
    await edit(page, 'prodT', 'aliyun-iot-product');
    await page.waitForSelector('#aliyun-iot-product-tsl-summary');
    assert.equal(
      await page.locator('#aliyun-iot-product-tsl-summary').innerText(),
      '1 properties, 1 events, 1 services',
    );
    await page.fill('#node-config-input-tsl', '{"properties": 1}');
    await page.locator('#node-config-input-tsl').dispatchEvent('keyup');
    assert.match(
      await page.locator('#aliyun-iot-product-tsl-summary').innerText(),
      /Not a thing model: properties is not a list/,
    );
    await page.click('#node-config-dialog-cancel');
  });

  /**
   * The help sidebar's text for a node type once it shows that help: a page still loading its flow
   * first shows the flow's own description there, so this asks again until `expected` appears or the
   * deadline passes, and returns what it last saw.
   */
  async function helpText(p: Page, type: string, expected: RegExp): Promise<string> {
    const until = Date.now() + 20_000;
    let text = '';
    while (!expected.test(text) && Date.now() < until) {
      await p.evaluate((t) => {
        (window as unknown as { RED: { sidebar: { help: { show(t: string): void } } } }).RED.sidebar.help.show(t);
      }, type);
      const help = p.locator('.red-ui-help:visible').first();
      await help.waitFor({ timeout: 10_000 });
      text = (await help.innerText()).trim();
      if (!expected.test(text)) await p.waitForTimeout(200);
    }
    return text;
  }

  it('help panel in en-US, and in Chinese when the editor language is zh-CN', async () => {
    const english = /Publishes msg\.payload as the device/;
    assert.match(await helpText(page, 'aliyun-iot-publish', english), english);
    const zh = await openEditor(browser, red.url, 'zh-CN');
    const chinese = /以设备身份在设备自己的 Topic 上发布/;
    assert.match(await helpText(zh, 'aliyun-iot-publish', chinese), chinese);
    assert.equal((await zh.locator('#red-ui-palette-header-Aliyun_IoT').textContent())?.trim(), '阿里云 IoT');
    // The config dialog in Chinese: tabs, labels and option texts from the catalogue.
    await openConfigDialog(zh, 'pubZh');
    assert.deepEqual(await tabLabels(zh), ['连接', '认证', 'TLS', '消息投递']);
    assert.equal((await zh.locator('label[for="node-config-input-transport"]').textContent())?.trim(), '传输方式');
    assert.equal((await optionTexts(zh, 'transport'))[1], 'MQTT over TCP(不加密)');
    await zh.screenshot({ path: join(ARTIFACTS, 'config-connection.zh-CN.png') });
    for (const name of ['authentication', 'tls', 'delivery'] as const) {
      await showTab(zh, name);
      await zh.screenshot({ path: join(ARTIFACTS, `config-${name}.zh-CN.png`) });
    }
    // The thing model's pickers and the product dialog in Chinese.
    await zh.click('#node-config-dialog-cancel');
    await zh.waitForSelector('#node-config-input-productKey', { state: 'detached' });
    await zh.click('#node-dialog-cancel');
    await zh.waitForSelector('#node-input-device', { state: 'detached' });
    await importThingNodes(zh, 'Zh');
    await edit(zh, 'prodZh', 'aliyun-iot-product');
    await zh.waitForSelector('#aliyun-iot-product-tsl-summary');
    assert.equal(await zh.locator('#aliyun-iot-product-tsl-summary').innerText(), '1 个属性、1 个事件、1 个服务');
    assert.equal((await zh.locator('label[for="node-config-input-tsl"]').textContent())?.trim(), '物模型(TSL)');
    await zh.click('#node-config-dialog-cancel');
    await zh.waitForSelector('#aliyun-iot-product-tsl-summary', { state: 'detached' });
    await edit(zh, 'evZh');
    await zh.waitForSelector('#node-input-event');
    assert.equal((await zh.locator('label[for="node-input-tslUnknown"]').textContent())?.trim(), '未知标识符');
    assert.equal(await zh.locator('#aliyun-iot-event-identifiers option').getAttribute('value'), 'Alarm');
    await zh.click('#node-dialog-cancel');
    await zh.close();
  });
});
