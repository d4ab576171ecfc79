// Which firmware version each module reports at a connect. The platform judges an upgrade by the
// next version report (PLATFORM.md §14.1), so after the flow applied one and reported it, a
// restart must not report the old version the node was configured with: the node remembers what
// was reported, until the user edits the configured version (then that is the truth again).
import { DEFAULT_MODULE, isModuleName, isVersion } from './protocol';

export type ModuleVersions = Record<string, string>;

/** `"MCU=1.0.3, WIFI=2.0"` (and the whole device's version apart) into a table; a string says what is wrong. */
export function parseModuleVersions(version: string, modules: string): ModuleVersions | string {
  const table: ModuleVersions = {};
  if (version.trim()) {
    if (!isVersion(version.trim())) return version;
    table[DEFAULT_MODULE] = version.trim();
  }
  for (const entry of modules.split(/[,;\n]/)) {
    if (!entry.trim()) continue;
    const [name = '', value = '', ...rest] = entry.split('=').map((s) => s.trim());
    if (rest.length > 0 || !isModuleName(name) || !isVersion(value) || name in table) return entry.trim();
    table[name] = value;
  }
  return table;
}

/** What a node keeps: the versions it was configured with, and the ones the flow reported since. */
export interface KeptVersions {
  configured: ModuleVersions;
  reported: ModuleVersions;
}

/** The version each configured module reports now. */
export function versionsToReport(configured: ModuleVersions, kept: KeptVersions | undefined): ModuleVersions {
  const out: ModuleVersions = {};
  for (const [module, version] of Object.entries(configured)) {
    const reported = kept?.reported[module];
    out[module] = reported !== undefined && kept?.configured[module] === version ? reported : version;
  }
  return out;
}

/** After the flow reported `version` for `module`. */
export function keepReported(
  configured: ModuleVersions,
  kept: KeptVersions | undefined,
  module: string,
  version: string,
): KeptVersions {
  const reported: ModuleVersions = {};
  // What was reported for a module whose configured version changed since no longer holds.
  for (const [m, v] of Object.entries(kept?.reported ?? {})) if (kept?.configured[m] === configured[m]) reported[m] = v;
  reported[module] = version;
  return { configured: { ...configured }, reported };
}
