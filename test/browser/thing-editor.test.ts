// The editor with the package's newer pieces: the gateway example running (every sub-device green,
// the README's screenshot), and the thing model's product dialog and pickers in en-US and zh-CN.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { Emulator } from '../../emulator/index';
import { DEMO_GATEWAY, DEMO_GATEWAY_PRODUCT, DEMO_SUB_DEVICES } from '../../emulator/cli-args';
import * as nr from '../../scripts/node-red-process';
import { readExample } from '../helpers/examples';
import { ARTIFACTS, edit, editorSuite, importThingNodes, openEditor } from './editor-page';

describe('editor in Chromium: gateway and thing model', () => {
  const suite = editorSuite({ devices: [DEMO_GATEWAY, ...DEMO_SUB_DEVICES], products: [DEMO_GATEWAY_PRODUCT] });
  let emu: Emulator;
  let red: nr.NodeRedProcess;
  let page: Page;
  before(() => {
    ({ emu, red, page } = suite());
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

  it('the product dialog and the pickers in Chinese', async () => {
    const zh = await openEditor(suite().browser, red.url, 'zh-CN');
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
