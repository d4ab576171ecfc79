// The part of qlobber's API the router uses (the package ships no types).
declare module 'qlobber' {
  interface QlobberOptions {
    separator?: string;
    wildcard_one?: string;
    wildcard_some?: string;
    match_empty_levels?: boolean;
    max_words?: number;
    max_wildcard_somes?: number;
  }
  export class Qlobber<V = unknown> {
    constructor(options?: QlobberOptions);
    add(topic: string, value: V): this;
    remove(topic: string, value?: V): this;
    match(topic: string): V[];
    clear(): this;
  }
}
