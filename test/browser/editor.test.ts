// The editor in headless Chromium against a real Node-RED that loads this checkout, with the emulator
// behind it: the palette, the device dialog, the demo flow, the help in two languages.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Emulator } from '../../emulator/index';
import { DEMO_ACCOUNT, DEMO_CONSUMER_GROUP, DEMO_DEVICE } from '../../emulator/cli-args';
import * as nr from '../../scripts/node-red-process';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { demoFlow } = require('../../scripts/demo-flow') as { demoFlow: (o: Record<string, unknown>) => unknown[] };
import { eventually } from '../helpers/emulator';
import { ARTIFACTS, editorSuite, openConfigDialog, openEditor, optionTexts, showTab, tabLabels } from './editor-page';

describe('editor in Chromium', () => {
  const suite = editorSuite({
    devices: [DEMO_DEVICE],
    // The demo flow's cloud side signs in with the demo AccessKey.
    accounts: [DEMO_ACCOUNT],
    consumerGroups: [DEMO_CONSUMER_GROUP],
  });
  let emu: Emulator;
  let red: nr.NodeRedProcess;
  let browser: Browser;
  let page: Page;
  before(() => {
    ({ emu, red, browser, page } = suite());
  });

  it('shows every node under "Aliyun IoT" in the palette', async () => {
    const header = page.locator('#red-ui-palette-header-Aliyun_IoT');
    assert.equal((await header.textContent())?.trim(), 'Aliyun IoT');
    const types = [
      'connect',
      'publish',
      'subscribe',
      'auth',
      'property',
      'event',
      'command',
      'reply',
      'time',
      'shadow',
      'cloud-api',
      'amqp-in',
    ].map((t) => `aliyun-iot-${t}`);
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
    await page.evaluate(() => {
      (window as unknown as { RED: { sidebar: { show(t: string): void } } }).RED.sidebar.show('debug');
    });
    await eventually(() => device.uplink.some((m) => m.topic.endsWith('/user/update')), 20_000, 'readings published');
    // The cloud sets the property every 20 s, the first time 4 s after the deploy.
    await eventually(() => device.counters.messagesOut > out, 30_000, 'property set delivered to the device');
    // For the screenshot only: debug messages from before the page connected are not shown, so one
    // may be all there is; the checks above are what the test asserts.
    await page
      .waitForFunction(() => document.querySelectorAll('.red-ui-debug-msg').length >= 1, undefined, { timeout: 5000 })
      .catch(() => undefined);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-flow.png') });
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
    await zh.close();
  });
});
