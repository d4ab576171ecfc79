// The cloud side's identities: Alibaba Cloud AccessKeys that may call the OpenAPI and log in to the
// AMQP server-side subscription, the consumer groups those logins name, and the emulated instance's
// ID (PLATFORM.md §17). An application, not a device: nothing here is known to the MQTT broker.

export interface AccountSpec {
  accessKeyId: string;
  accessKeySecret: string;
}

export interface ConsumerGroupSpec {
  /** The consumer group ID an AMQP login names in `consumerGroupId=`. */
  id: string;
  /**
   * The products whose data the group subscribes to, as the console's subscription names them
   * (PLATFORM.md §17.1); absent: every product.
   */
  productKeys?: readonly string[];
}

export interface AccountsOptions {
  accounts?: readonly AccountSpec[];
  consumerGroups?: readonly ConsumerGroupSpec[];
  /**
   * The emulated instance's ID. Set: OpenAPI calls must carry it as `IotInstanceId` and AMQP logins
   * as `iotInstanceId=`, as on a new public or enterprise instance. Unset: an old public instance,
   * where the OpenAPI call leaves it out and the AMQP login leaves it out or sends it empty.
   */
  iotInstanceId?: string;
}

export class Accounts {
  private readonly byId = new Map<string, AccountSpec>();
  /** Each group and the products it subscribes to (undefined: all). */
  private readonly groupIds = new Map<string, ReadonlySet<string> | undefined>();
  readonly iotInstanceId: string | undefined;

  constructor(options: AccountsOptions = {}) {
    for (const account of options.accounts ?? []) {
      if (!account.accessKeyId || !account.accessKeySecret)
        throw new Error('an account needs accessKeyId and accessKeySecret');
      this.byId.set(account.accessKeyId, { ...account });
    }
    for (const group of options.consumerGroups ?? []) {
      if (!group.id) throw new Error('a consumer group needs an id');
      this.groupIds.set(group.id, group.productKeys ? new Set(group.productKeys) : undefined);
    }
    this.iotInstanceId = options.iotInstanceId || undefined;
  }

  /** The AccessKey secret of an AccessKey ID; undefined for an unknown ID. */
  secretOf(accessKeyId: string): string | undefined {
    return this.byId.get(accessKeyId)?.accessKeySecret;
  }

  hasGroup(id: string): boolean {
    return this.groupIds.has(id);
  }

  addGroup(id: string): void {
    if (!this.groupIds.has(id)) this.groupIds.set(id, undefined);
  }

  groups(): string[] {
    return [...this.groupIds.keys()];
  }

  /** The groups subscribed to a product's data. */
  groupsFor(productKey: string): string[] {
    return [...this.groupIds].filter(([, products]) => !products || products.has(productKey)).map(([id]) => id);
  }

  /** Every AccessKey secret, for the tests' secret scan. */
  secrets(): string[] {
    return [...this.byId.values()].map((a) => a.accessKeySecret);
  }
}
