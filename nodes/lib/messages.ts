// Localized text for the core's error codes. The catalogue is the config node's locale file, the
// same one Node-RED serves to the editor, so runtime, editor and API users read one set of words.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorCode } from './errors';

export const LANGUAGES = ['en-US', 'zh-CN'] as const;
export type Language = (typeof LANGUAGES)[number];

type Catalogue = Record<string, string>;
const catalogues = new Map<Language, Catalogue>();

// Built: dist/nodes/lib -> dist/nodes/locales. From source (tests): nodes/lib -> locales.
const LOCALE_DIRS = [join(__dirname, '..', 'locales'), join(__dirname, '..', '..', 'locales')];

function catalogue(lang: Language): Catalogue {
  let found = catalogues.get(lang);
  if (!found) {
    const dir = LOCALE_DIRS.find((d) => existsSync(join(d, lang, 'aliyun-iot-device.json')));
    const json = dir
      ? (JSON.parse(readFileSync(join(dir, lang, 'aliyun-iot-device.json'), 'utf8')) as { errors?: Catalogue })
      : {};
    found = json.errors ?? {};
    catalogues.set(lang, found);
  }
  return found;
}

/** Node-RED's i18next interpolation (`__name__`), so the same strings serve both. */
export function interpolate(template: string, params: Readonly<Record<string, unknown>> = {}): string {
  return template.replace(/__(\w+)__/g, (whole, key: string) => (key in params ? String(params[key]) : whole));
}

export function messageFor(
  code: ErrorCode,
  params?: Readonly<Record<string, unknown>>,
  lang: Language = 'en-US',
): string {
  const template = catalogue(lang)[code] ?? catalogue('en-US')[code] ?? code;
  return interpolate(template, params);
}
