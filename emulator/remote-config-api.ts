// The cloud side of remote configuration over HTTP: what the console's 远程配置 page does for a product
// (edit the file, then "批量更新" to push it to the product's online devices).
//   POST /api/products/{pk}/config   {content}: stores a new configuration and pushes it
//   GET  /api/products/{pk}/config   the current configuration (content included, no URL), the
//                                    pushes sent and the devices' push replies
// Rules: PLATFORM.md §15.1 (emulator/remote-config.ts names them).
import type { ApiAnswer, CloudContext } from './cloud-api';
import { CONFIG_MAX_BYTES } from './remote-config';

type Body = Record<string, unknown>;

const bad = (message: string): ApiAnswer => ({ status: 400, body: { code: 'BAD_REQUEST', message } });

/** `content`: the file as a string, or any other JSON value, which is stored as its JSON text. */
function contentOf(body: Body): Buffer | string {
  const { content } = body;
  if (content === undefined || content === null)
    return 'content is required: the configuration file as a string, or a JSON value';
  const text = typeof content === 'string' ? content : JSON.stringify(content);
  if (text === '') return 'content must not be empty';
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > CONFIG_MAX_BYTES) return `content must be at most ${CONFIG_MAX_BYTES} bytes (64 KB)`;
  return bytes;
}

/** Routes `/api/products/{pk}/config`; undefined: not that route. */
export function configAction(
  ctx: CloudContext,
  method: string,
  path: readonly string[],
  body: Body,
): Promise<ApiAnswer> | undefined {
  const [, productKey = '', what, ...more] = path;
  if (what !== 'config' || more.length > 0) return undefined;
  if (!ctx.registry.product(productKey))
    return Promise.resolve({ status: 404, body: { code: 'PRODUCT_NOT_FOUND', message: `no product ${productKey}` } });
  if (method === 'GET') return Promise.resolve(describeConfig(ctx, productKey));
  if (method !== 'POST') return Promise.resolve({ status: 405, body: { code: 'METHOD_NOT_ALLOWED' } });
  return updateConfig(ctx, productKey, body);
}

function describeConfig(ctx: CloudContext, productKey: string): ApiAnswer {
  const { configs } = ctx.remoteConfig;
  const config = configs.current(productKey);
  if (!config)
    return { status: 404, body: { code: 'CONFIG_NOT_FOUND', message: `product ${productKey} has no configuration` } };
  return {
    status: 200,
    body: {
      configId: config.configId,
      configSize: config.configSize,
      sign: config.sign,
      signMethod: config.signMethod,
      getType: config.getType,
      content: config.content.toString('utf8'),
      createdAt: config.createdAt,
      versions: configs
        .versions(productKey)
        .map((c) => ({ configId: c.configId, configSize: c.configSize, createdAt: c.createdAt })),
      pushes: ctx.remoteConfig.pushes(productKey),
      replies: configs.replies(productKey),
    },
  };
}

async function updateConfig(ctx: CloudContext, productKey: string, body: Body): Promise<ApiAnswer> {
  const content = contentOf(body);
  if (typeof content === 'string') return bad(content);
  const { config, pushedTo } = await ctx.remoteConfig.update(productKey, content);
  return {
    status: 200,
    body: {
      code: 'SUCCESS',
      configId: config.configId,
      configSize: config.configSize,
      sign: config.sign,
      signMethod: config.signMethod,
      getType: config.getType,
      pushedTo,
    },
  };
}
