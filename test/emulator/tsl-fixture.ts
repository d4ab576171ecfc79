// The demo lamp's TSL (test/fixtures/tsl/demo-lamp.json, a console export) for the thing-model tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEMO_LAMP_PATH = join(__dirname, '..', 'fixtures', 'tsl', 'demo-lamp.json');

/** A fresh copy each time: a test may change it. */
export function demoLamp(): Record<string, unknown> {
  return JSON.parse(readFileSync(DEMO_LAMP_PATH, 'utf8')) as Record<string, unknown>;
}
