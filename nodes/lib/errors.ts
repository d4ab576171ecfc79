import { messageFor } from './messages';

/** An error with a stable code; its message is the en-US text, nodes localize through the code. */
export class AliyunIotError extends Error {
  readonly code: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** The platform's own code (401, 6289, a CONNACK return code...) when the platform refused. */
  readonly platformCode: number | undefined;

  constructor(code: string, params: Readonly<Record<string, unknown>> = {}, platformCode?: number) {
    super(messageFor(code, params));
    this.name = 'AliyunIotError';
    this.code = code;
    this.params = params;
    this.platformCode = platformCode;
  }
}
