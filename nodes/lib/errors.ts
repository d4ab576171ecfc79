import type Catalogue from '../../locales/en-US/aliyun-iot-device.json';
import { messageFor } from './messages';

/**
 * Every error and warning code of the package: the keys of the en-US catalogue, so a misspelt code
 * fails to compile (a unit test keeps the zh-CN catalogue's keys equal).
 */
export type ErrorCode = keyof (typeof Catalogue)['errors'];

/** Something wrong with an input, before any error is raised: a code and what fills its message. */
export interface Problem<C extends ErrorCode = ErrorCode> {
  readonly code: C;
  readonly params: Readonly<Record<string, unknown>>;
}

/** An error with a stable code; its message is the en-US text, nodes localize through the code. */
export class AliyunIotError extends Error {
  readonly code: ErrorCode;
  readonly params: Readonly<Record<string, unknown>>;
  /** The platform's own code (401, 6289, a CONNACK return code...) when the platform refused. */
  readonly platformCode: number | undefined;

  constructor(code: ErrorCode, params: Readonly<Record<string, unknown>> = {}, platformCode?: number) {
    super(messageFor(code, params));
    this.name = 'AliyunIotError';
    this.code = code;
    this.params = params;
    this.platformCode = platformCode;
  }
}
