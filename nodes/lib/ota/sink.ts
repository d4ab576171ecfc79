// Where downloaded firmware goes: a file (written as `<name>.part`, renamed only once verified, so
// a file that failed verification never appears under its name) or memory below a size limit.
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { AliyunIotError } from '../errors';

export interface FirmwareSink {
  write(chunk: Buffer): void;
  /** Drops what was written: the server sent the file again from byte 0. */
  reset(): void;
  /** Everything arrived; verification comes next. */
  flush(): Promise<void>;
  /** Verification failed or the download was given up: nothing is left behind. */
  discard(): Promise<void>;
}

export class FileSink implements FirmwareSink {
  private fd: number | undefined;
  private readonly partPath: string;

  constructor(readonly path: string) {
    this.partPath = `${path}.part`;
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(this.partPath, 'w');
  }

  write(chunk: Buffer): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, chunk);
  }

  reset(): void {
    this.close();
    this.fd = openSync(this.partPath, 'w');
  }

  flush(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** After verification: the file appears under its own name. */
  commit(): void {
    this.close();
    renameSync(this.partPath, this.path);
  }

  discard(): Promise<void> {
    this.close();
    rmSync(this.partPath, { force: true });
    return Promise.resolve();
  }

  private close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

export class BufferSink implements FirmwareSink {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  write(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) throw new AliyunIotError('OTA_TOO_LARGE', { size: this.size, max: this.maxBytes });
    this.chunks.push(chunk);
  }

  reset(): void {
    this.chunks = [];
    this.size = 0;
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  discard(): Promise<void> {
    this.reset();
    return Promise.resolve();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
