// Remote configuration (远程配置, "COTA"), the platform's bookkeeping only: each product's current
// configuration file and the devices' answers to its pushes. No MQTT and no HTTP here
// (emulator/remote-config-requests.ts, emulator/remote-config-api.ts).
//
// Rules (PLATFORM.md §15.1, DOC:89308, DOC:84891):
// - configuration is per product (`configScope` "product"), fetched as a file (`getType` "file");
// - `sign` is the SHA-256 hex of the file, `signMethod` "Sha256";
// - the platform keeps 5 historical versions; the file is JSON of at most 64 KB (the size limit is
//   UNVERIFIED; the content is not checked to be JSON: forgiving, the file is what the device gets).
// - "at most one push per product per hour" is not enforced: an emulator for tests must not block
//   the second test that pushes.
// Not kept in the state file: a configuration's URL is signed with a key of this process.
import { createHash, randomBytes } from 'node:crypto';

/** UNVERIFIED (§5.1): the configuration file's size limit. */
export const CONFIG_MAX_BYTES = 64 * 1024;
/** §5.1: "5 historical versions kept". */
export const CONFIG_HISTORY = 5;
const REPLY_LOG_SIZE = 100;

export interface ProductConfig {
  configId: string;
  content: Buffer;
  configSize: number;
  sign: string;
  signMethod: 'Sha256';
  getType: 'file';
  createdAt: number;
}

/** A device's answer on `thing/config/push_reply`. */
export interface ConfigPushReply {
  productKey: string;
  deviceName: string;
  /** The reply's id as sent (string or number); null when it had none or could not be read. */
  id: unknown;
  /** The reply's code as sent (200, or C3's "400" string). */
  code: unknown;
  /** Not valid JSON: C3's failure reply lacks its braces (§5.1); `raw` holds the text (cut to 256 characters). */
  malformed?: true;
  raw?: string;
  time: number;
}

export class RemoteConfigs {
  private readonly history = new Map<string, ProductConfig[]>();
  private readonly replyLog = new Map<string, ConfigPushReply[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Stores a new configuration for the product: a new `configId` every time, even for the same content. */
  set(productKey: string, content: Buffer): ProductConfig {
    const config: ProductConfig = {
      configId: randomBytes(8).toString('hex'),
      content: Buffer.from(content),
      configSize: content.length,
      sign: createHash('sha256').update(content).digest('hex'),
      signMethod: 'Sha256',
      getType: 'file',
      createdAt: this.now(),
    };
    const list = [...(this.history.get(productKey) ?? []), config].slice(-CONFIG_HISTORY);
    this.history.set(productKey, list);
    return config;
  }

  current(productKey: string): ProductConfig | undefined {
    return this.history.get(productKey)?.at(-1);
  }

  /** The product's kept versions, oldest first. */
  versions(productKey: string): readonly ProductConfig[] {
    return this.history.get(productKey) ?? [];
  }

  recordReply(reply: ConfigPushReply): void {
    const list = this.replyLog.get(reply.productKey) ?? [];
    list.push(reply);
    if (list.length > REPLY_LOG_SIZE) list.shift();
    this.replyLog.set(reply.productKey, list);
  }

  /** Answers to pushes from the product's devices, newest last (bounded). */
  replies(productKey: string): readonly ConfigPushReply[] {
    return this.replyLog.get(productKey) ?? [];
  }
}
