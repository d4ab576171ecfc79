// Config node: a product. Its ProductKey and ProductSecret serve the devices that name it, and its
// thing model (TSL, as the console exports it) lets the property, event, command and reply nodes
// check and convert data before it leaves.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { checkField } from './lib/rules';
import { parseTsl } from './lib/tsl-model';
import { localize } from './support/i18n';
import type { ProductConfigNode } from './support/product-link';

interface ProductDef extends NodeDef {
  productKey?: string;
  tsl?: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export = function register(RED: NodeAPI): void {
  function AliyunIotProduct(this: Node, def: ProductDef): void {
    RED.nodes.createNode(this, def);
    const node = this as Mutable<ProductConfigNode>;
    const productKey = typeof def.productKey === 'string' ? def.productKey.trim() : '';
    const problems = checkField('productKey', { productKey }).map((p) => localize(RED, p.code, p.params));
    const source = typeof def.tsl === 'string' ? def.tsl.trim() : '';
    if (source) {
      const read = parseTsl(source);
      if (!read.ok) problems.push(localize(RED, read.problem.code, read.problem.params));
      else {
        // An export of another product is likely the wrong file: used, with a warning.
        if (read.model.productKey && productKey && read.model.productKey !== productKey)
          node.warn(localize(RED, 'PRODUCT_KEY_MISMATCH', { tsl: read.model.productKey, productKey }));
        node.model = read.model;
      }
    }
    if (problems.length > 0) {
      node.problem = problems.join('; ');
      node.error(localize(RED, 'CONFIG_INVALID', { reason: node.problem }));
    } else node.productKey = productKey;
  }

  RED.nodes.registerType('aliyun-iot-product', AliyunIotProduct, {
    credentials: { productSecret: { type: 'password' } },
  });
};
