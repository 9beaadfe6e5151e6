/**
 * The stand-ins the worker tests (and the receiver's) rely on behave like the services they replace, as seen by the
 * real AWS SDK (Lambda) and plain HTTP (Bot Connector).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { startBotConnector, startGraphStandIn } from '../support/bot-connector-stub';
import { startLambdaInvoke } from '../support/lambda-invoke-stub';

const sdk = (endpoint: string) => new LambdaClient({
  endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'x' }, maxAttempts: 3,
});

describe('lambda-invoke-stub', () => {
  test('Event: 202 at once, the handler runs later; idle() waits for it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const seen: unknown[] = [];
    const stub = await startLambdaInvoke({ handler: async (e) => { await gate; seen.push(e); } });
    const lambda = sdk(stub.endpoint);
    try {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'fn', InvocationType: 'Event', Payload: Buffer.from('{"a":1}') }));
      expect(out.StatusCode).toBe(202);
      expect(seen).toEqual([]);
      let idle = false;
      const idlePromise = stub.idle().then(() => { idle = true; });
      await new Promise((r) => setTimeout(r, 50));
      expect(idle).toBe(false);
      release();
      await idlePromise;
      expect(seen).toEqual([{ a: 1 }]);
      expect(stub.records[0]).toMatchObject({ functionName: 'fn', invocationType: 'Event', payload: { a: 1 } });
    } finally {
      lambda.destroy();
      await stub.stop();
    }
  });

  test('Event: retried `retries` times, then an on-failure destination record shaped like Lambda\'s', async () => {
    const stub = await startLambdaInvoke({ retries: 2, handler: async () => { throw new TypeError('always'); } });
    const lambda = sdk(stub.endpoint);
    try {
      await lambda.send(new InvokeCommand({ FunctionName: 'my-fn', InvocationType: 'Event', Payload: Buffer.from('{"x":"y"}') }));
      await stub.idle();
      expect(stub.attempts.map((a) => [a.attempt, a.ok])).toEqual([[1, false], [2, false], [3, false]]);
      expect(stub.failures).toEqual([{
        version: '1.0',
        timestamp: expect.any(String),
        requestContext: { requestId: stub.records[0].requestId, functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:my-fn:$LATEST', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
        requestPayload: { x: 'y' },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        responsePayload: { errorMessage: 'always', errorType: 'TypeError' },
      }]);
    } finally {
      lambda.destroy();
      await stub.stop();
    }
  });

  test('Event: success on a retry leaves no failure record', async () => {
    let calls = 0;
    const stub = await startLambdaInvoke({ handler: async () => { if (++calls < 2) throw new Error('once'); } });
    const lambda = sdk(stub.endpoint);
    try {
      await lambda.send(new InvokeCommand({ FunctionName: 'fn', InvocationType: 'Event', Payload: Buffer.from('{}') }));
      await stub.idle();
      expect(calls).toBe(2);
      expect(stub.failures).toEqual([]);
    } finally {
      lambda.destroy();
      await stub.stop();
    }
  });

  test('RequestResponse: the result, or a function error the SDK reports; DryRun: 204', async () => {
    const stub = await startLambdaInvoke({ handler: async (e) => { if ((e as { fail?: boolean }).fail) throw new Error('bad'); return { ok: e }; } });
    const lambda = sdk(stub.endpoint);
    try {
      const ok = await lambda.send(new InvokeCommand({ FunctionName: 'fn', Payload: Buffer.from('{"v":2}') }));
      expect(ok.StatusCode).toBe(200);
      expect(ok.FunctionError).toBeUndefined();
      expect(JSON.parse(Buffer.from(ok.Payload!).toString())).toEqual({ ok: { v: 2 } });
      const bad = await lambda.send(new InvokeCommand({ FunctionName: 'fn', Payload: Buffer.from('{"fail":true}') }));
      expect(bad.FunctionError).toBe('Unhandled');
      expect(JSON.parse(Buffer.from(bad.Payload!).toString())).toEqual({ errorMessage: 'bad', errorType: 'Error' });
      const dry = await lambda.send(new InvokeCommand({ FunctionName: 'fn', InvocationType: 'DryRun' }));
      expect(dry.StatusCode).toBe(204);
    } finally {
      lambda.destroy();
      await stub.stop();
    }
  });

  test('failNext: the Invoke API itself fails; the SDK retries 429/5xx, not 4xx', async () => {
    const stub = await startLambdaInvoke({ handler: async () => 'ok' });
    const lambda = sdk(stub.endpoint);
    try {
      stub.failNext(429, 1);
      stub.failNext(500, 1);
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'fn', InvocationType: 'Event', Payload: Buffer.from('{}') }));
      expect(out.StatusCode).toBe(202);
      await stub.idle();
      expect(stub.invocations).toHaveLength(1);
      stub.failNext(400, 1);
      await expect(lambda.send(new InvokeCommand({ FunctionName: 'fn', InvocationType: 'Event', Payload: Buffer.from('{}') })))
        .rejects.toMatchObject({ name: 'InvalidRequestContentException' });
      stub.failNext(429, 5);
      await expect(lambda.send(new InvokeCommand({ FunctionName: 'fn', InvocationType: 'Event', Payload: Buffer.from('{}') })))
        .rejects.toMatchObject({ name: 'TooManyRequestsException' });
      expect(stub.invocations).toHaveLength(1);
    } finally {
      lambda.destroy();
      await stub.stop();
    }
  });
});

describe('bot-connector-stub', () => {
  test('routes, recorded fields, double slash and unknown routes', async () => {
    const bc = await startBotConnector();
    try {
      const conv = encodeURIComponent('19:a@thread.tacv2;messageid=1');
      const post = (path: string, body: unknown, method = 'POST') => fetch(`${bc.origin}${path}`, {
        method, headers: { 'content-type': 'application/json', 'authorization': 'Bearer t' }, body: JSON.stringify(body),
      });
      const r1 = await post(`/amer/v3/conversations/${conv}/activities`, { type: 'message', text: 'a' });
      expect(r1.status).toBe(201);
      const { id } = await r1.json() as { id: string };
      expect((await post(`/amer/v3/conversations/${conv}/activities/${id}`, { type: 'message', text: 'b' })).status).toBe(201);
      expect((await post(`/amer/v3/conversations/${conv}/activities/${id}`, { type: 'message', text: 'c' }, 'PUT')).status).toBe(200);
      expect((await post(`/amer//v3/conversations/${conv}/activities`, { type: 'message' })).status).toBe(404);
      expect((await post(`/amer/v3/conversations/${conv}/other`, { type: 'message' })).status).toBe(404);
      expect((await post(`/amer/v3/conversations/${conv}/activities`, { text: 'no type' })).status).toBe(400);
      expect(bc.activities.map((a) => [a.method, a.conversationId, a.activityId, a.activity.text, a.authorization])).toEqual([
        ['POST', '19:a@thread.tacv2;messageid=1', undefined, 'a', 'Bearer t'],
        ['POST', '19:a@thread.tacv2;messageid=1', id, 'b', 'Bearer t'],
        ['PUT', '19:a@thread.tacv2;messageid=1', id, 'c', 'Bearer t'],
      ]);
      bc.failNext(403, 1, { 'x-test': '1' }, 'MessageWritesBlocked');
      const f = await post(`/amer/v3/conversations/${conv}/activities`, { type: 'message' });
      expect(f.status).toBe(403);
      expect(f.headers.get('x-test')).toBe('1');
      expect(await f.json()).toMatchObject({ error: { code: 'MessageWritesBlocked' } });
      expect(bc.messages()).toHaveLength(3);
    } finally {
      await bc.stop();
    }
  });

  test('graph stand-in: profile per token, 401 otherwise, failNext', async () => {
    const g = await startGraphStandIn();
    try {
      g.addUser('tok', { id: '1', displayName: 'Ada' });
      const get = (token?: string) => fetch(`${g.baseUrl}/v1.0/me`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      expect(await (await get('tok')).json()).toMatchObject({ displayName: 'Ada' });
      expect((await get('other')).status).toBe(401);
      expect((await get()).status).toBe(401);
      g.failNext(503);
      expect((await get('tok')).status).toBe(503);
      expect(g.requests.map((r) => [r.token, r.status])).toEqual([['tok', 200], ['other', 401], [undefined, 401], ['tok', 503]]);
    } finally {
      await g.stop();
    }
  });
});
