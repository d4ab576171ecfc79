// Types for node-red-process.js, used by the TypeScript tests.
import type { ChildProcess } from 'node:child_process';

export const root: string;
export const PACKAGE: string;
export function writeSettings(
  userDir: string,
  options: {
    port: number;
    host?: string;
    credentialSecret?: string;
    lang?: string;
    contextStorage?: Record<string, unknown>;
  },
): void;
export function linkedUserDir(userDir: string): string;
export function freshDir(dir: string): string;
export function assertPortFree(port: number, host?: string): Promise<void>;
export function freePort(): Promise<number>;
export interface NodeRedProcess {
  child: ChildProcess;
  url: string;
  log(): string;
  ready: Promise<void>;
  exited: Promise<number | string | null>;
  stop(): Promise<void>;
}
export function startNodeRed(options: {
  userDir: string;
  port: number;
  nodeBinary?: string;
  redJs?: string;
  stdio?: 'pipe' | 'inherit';
  timeoutMs?: number;
}): NodeRedProcess;
export function request(
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<{ status: number; body: unknown; text: string }>;
export function deployFlows(url: string, flows: unknown[]): Promise<void>;
