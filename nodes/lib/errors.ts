import { messageFor } from './messages';

/** An error with a stable code; its message is the en-US text, nodes localize through the code. */
export class AliyunIotError extends Error {
  readonly code: string;
  readonly params: Readonly<Record<string, unknown>>;

  constructor(code: string, params: Readonly<Record<string, unknown>> = {}) {
    super(messageFor(code, params));
    this.name = 'AliyunIotError';
    this.code = code;
    this.params = params;
  }
}
