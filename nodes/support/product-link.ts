// A device config node reaches its product config node: the ProductKey and ProductSecret it takes
// from there, and the thing model its flow nodes check data against.
import type { Node, NodeAPI } from 'node-red';
import type { ThingModel } from '../lib/tsl-model';
import { localize } from './i18n';

/** The runtime side of an `aliyun-iot-product` config node, as device config nodes see it. */
export interface ProductConfigNode extends Node<{ productSecret?: string }> {
  readonly productKey?: string;
  readonly model?: ThingModel;
  /** Localized reason why it cannot serve its devices. */
  readonly problem?: string;
}

export type ProductLink =
  | { ok: true; settings: { productKey: string; productSecret?: string }; model?: ThingModel }
  | { ok: false; problem: string };

/**
 * What a device takes from the product it names: the product's ProductKey always, its
 * ProductSecret unless the device has its own. Node-RED creates the product's node first.
 */
export function linkProduct(RED: NodeAPI, productId: string, ownSecret: string | undefined): ProductLink {
  const product = RED.nodes.getNode(productId) as ProductConfigNode | null;
  if (!product?.productKey) {
    return { ok: false, problem: localize(RED, 'PRODUCT_MISSING', { product: product?.name || productId }) };
  }
  // A product node without a ProductSecret has no credentials at all.
  const kept = product.credentials as { productSecret?: string } | undefined;
  const productSecret = ownSecret || kept?.productSecret;
  return { ok: true, settings: { productKey: product.productKey, productSecret }, model: product.model };
}
