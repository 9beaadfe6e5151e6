import { randomUUID } from 'node:crypto';
import { localClients, startReceiverEnv, withContext, type ReceiverEnv } from './receiver-support';
import {
  baseUrlReader,
  ConfigurationError,
  joinUrl,
  LambdaWorkerInvoker,
  normalizeBaseUrl,
} from '../../lambda/receiver/context';
import { putParameter } from '../support/local-aws';

jest.setTimeout(60_000);

let env: ReceiverEnv;
let clients: ReturnType<typeof localClients>;
beforeAll(async () => {
  env = await startReceiverEnv();
  clients = localClients(env);
}, 180_000);
afterAll(async () => {
  clients?.destroy();
  await env?.stop();
});

describe('base URL and redirect URI', () => {
  test('normalizeBaseUrl / joinUrl', () => {
    expect(normalizeBaseUrl('https://abc.lambda-url.us-east-1.on.aws/')).toBe('https://abc.lambda-url.us-east-1.on.aws');
    expect(normalizeBaseUrl('https://bot.example.com/prefix//')).toBe('https://bot.example.com/prefix');
    expect(normalizeBaseUrl('http://127.0.0.1:3000/')).toBe('http://127.0.0.1:3000');
    expect(() => normalizeBaseUrl('http://bot.example.com')).toThrow(ConfigurationError);
    expect(() => normalizeBaseUrl('https://bot.example.com/?x=1')).toThrow(ConfigurationError);
    expect(() => normalizeBaseUrl('not a url')).toThrow(ConfigurationError);
    expect(joinUrl('https://a.on.aws/', '/auth/callback')).toBe('https://a.on.aws/auth/callback');
    expect(joinUrl('https://a.on.aws', 'auth/callback')).toBe('https://a.on.aws/auth/callback');
  });

  test('the SSM parameter is read once; a function URL with a trailing slash gives an exact redirect URI', async () => {
    await putParameter(env.aws.motoEndpoint, '/tdab/ctx/base', 'https://xyz.lambda-url.eu-west-1.on.aws/');
    await withContext(env, { TDAB_BASE_URL_PARAMETER: '/tdab/ctx/base' }, async ({ ctx }) => {
      const mark = env.motoProxy.mark();
      expect(await ctx.redirectUri()).toBe('https://xyz.lambda-url.eu-west-1.on.aws/auth/callback');
      expect(await ctx.baseUrl()).toBe('https://xyz.lambda-url.eu-west-1.on.aws');
      await ctx.redirectUri();
      expect(env.motoProxy.since(mark)).toEqual(['GetParameter']);
    });
  });

  test('PUBLIC_BASE_URL wins, without an SSM call', async () => {
    await withContext(env, { TDAB_PUBLIC_BASE_URL: 'https://bot.contoso.com/' }, async ({ ctx }) => {
      const mark = env.motoProxy.mark();
      expect(await ctx.redirectUri()).toBe('https://bot.contoso.com/auth/callback');
      expect(env.motoProxy.since(mark)).toEqual([]);
    });
  });

  test('a missing parameter is not cached', async () => {
    const name = `/tdab/missing/${randomUUID()}`;
    const read = baseUrlReader(clients.ssm, { baseUrlParameter: name });
    await expect(read()).rejects.toThrow();
    await putParameter(env.aws.motoEndpoint, name, 'https://later.example.com');
    expect(await read()).toBe('https://later.example.com');
  });
});

describe('worker invoker', () => {
  test('InvocationType Event with the event as payload; a failed Invoke rejects', async () => {
    const invoker = new LambdaWorkerInvoker(clients.lambda, 'my-worker');
    const before = env.worker.records.length;
    await invoker.invoke({ hello: 'world' } as never);
    const rec = env.worker.records[before];
    expect(rec).toMatchObject({ functionName: 'my-worker', invocationType: 'Event', payload: { hello: 'world' } });
    env.worker.failNext(500, 5);
    await expect(invoker.invoke({ hello: 'again' } as never)).rejects.toThrow();
    env.worker.failNext(200, 0);
  });
});
