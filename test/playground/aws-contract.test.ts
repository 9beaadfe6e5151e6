/**
 * One contract suite, two backends: the stores the handlers use (token store with the KMS cipher, conversation store,
 * worker idempotency) through the real AWS SDK v3 clients, against
 *   - the playground's in-process AWS (cli/playground/aws/: DynamoDB JSON protocol, KMS), and
 *   - DynamoDB Local + moto_server (test/support/local-aws.ts), the reference the other tests use,
 * so the playground cannot drift from DynamoDB's and KMS's behaviour unnoticed (docs/design.md, "The playground's AWS").
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, TransactWriteItemsCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { LocalDynamoDb } from '../../cli/playground/aws/dynamodb';
import { LocalAws, LocalKms, LocalLambda, LocalParameters } from '../../cli/playground/aws/services';
import type { PendingEvent } from '../../lambda/shared/contract';
import { ConversationStore } from '../../lambda/shared/conversation-store';
import { TokenCipher } from '../../lambda/shared/crypto';
import { IdempotencyStore } from '../../lambda/shared/idempotency';
import { TokenStore } from '../../lambda/shared/token-store';
import { awsClientConfig, createKey, createTables, startLocalAws } from '../support/local-aws';

interface Backend {
  dynamodb: string;
  kms: string;
  stop(): Promise<void>;
}

async function playgroundBackend(): Promise<Backend> {
  const aws = new LocalAws(new LocalDynamoDb(), new LocalKms(), new LocalParameters(), new LocalLambda());
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void aws.handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    dynamodb: url,
    kms: url,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function referenceBackend(): Promise<Backend> {
  const local = await startLocalAws();
  return { dynamodb: local.dynamodbEndpoint, kms: local.motoEndpoint, stop: () => local.stop() };
}

const TABLES = { tokenTable: 'tokens', conversationTable: 'conversations' };
const APP_ID = 'app-contract';
const USER = { tenantId: '11111111-2222-3333-4444-555555555555', aadObjectId: 'AAAAAAAA-0000-4000-8000-000000000001' };

function pendingEvent(activityId: string, receivedAt: string): PendingEvent {
  return {
    type: 'teams-delegated-auth-bot.message',
    version: '2',
    resumed: false,
    receivedAt,
    conversation: {
      serviceUrl: 'https://smba.trafficmanager.net/amer/',
      channelId: 'msteams',
      conversation: { id: 'a:1conversation', conversationType: 'personal', tenantId: USER.tenantId },
      bot: { id: '28:bot', name: 'Bot' },
      user: { id: '29:1user', aadObjectId: USER.aadObjectId, name: 'Ada' },
      activityId,
      locale: 'en-US',
    },
    message: { id: activityId, text: 'hi', textFormat: 'plain', attachments: [], value: null },
  } as unknown as PendingEvent;
}

describe.each([
  ['the playground\'s in-process AWS', playgroundBackend],
  ['DynamoDB Local + moto_server', referenceBackend],
])('store contract on %s', (_name, start) => {
  let backend: Backend;
  let ddb: DynamoDBClient;
  let kms: KMSClient;
  let keyArn: string;

  beforeAll(async () => {
    backend = await start();
    await createTables(backend.dynamodb, TABLES);
    keyArn = await createKey(backend.kms);
    ddb = new DynamoDBClient(awsClientConfig(backend.dynamodb));
    kms = new KMSClient(awsClientConfig(backend.kms));
  }, 120_000);

  afterAll(async () => {
    ddb?.destroy();
    kms?.destroy();
    await backend?.stop();
  });

  test('token store: put encrypts (any size), get reads without KMS, the context binds the user, sign-out sticks', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const store = new TokenStore({ ddb, cipher, tableName: TABLES.tokenTable, appId: APP_ID });
    const longToken = 'x'.repeat(9000);
    const basis = await store.basis(USER);
    const stored = await store.put(USER, { accessToken: longToken, refreshToken: 'refresh-1', expiresIn: 3600, scope: 'User.Read' }, basis);
    expect(Buffer.from(stored.accessToken.ciphertext, 'base64')).toHaveLength(9000 + 16); // one unit: GCM ciphertext + tag
    const read = await store.get(USER);
    expect(read?.scopes).toBe('User.Read');
    expect(await store.decryptAccessToken(read!)).toBe(longToken);
    expect(await store.decryptRefreshToken(read!)).toBe('refresh-1');
    // Another user's context cannot decrypt it.
    const wrong = { ...read!.accessToken!.encryptionContext, aadObjectId: 'someone-else' };
    await expect(kms.send(new DecryptCommand({ KeyId: keyArn, CiphertextBlob: Buffer.from(read!.accessToken!.encryptedKey, 'base64'), EncryptionContext: wrong })))
      .rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    // A refresh without a refresh token keeps the stored one (if_not_exists / partial SET).
    const again = await store.put(USER, { accessToken: 'access-2', expiresIn: 3600 }, read!);
    expect(again.scopes).toBe('User.Read');
    expect(await store.decryptRefreshToken(again)).toBe('refresh-1');
    // Sign-out (generation + 1, tokens removed): a write prepared before it fails; one with a fresh basis works.
    expect(await store.signOut(USER)).toBe(true);
    expect(await store.get(USER)).toBeUndefined();
    await expect(store.put(USER, { accessToken: 'late', expiresIn: 3600 }, again)).rejects.toMatchObject({ name: 'SignedOutError' });
    const fresh = await store.put(USER, { accessToken: 'access-3', refreshToken: 'refresh-3', expiresIn: 3600 }, await store.basis(USER));
    expect(await store.decryptAccessToken(fresh)).toBe('access-3');
    expect(await store.delete(USER)).toBe(true);
    expect(await store.delete(USER)).toBe(false);
    expect(await store.get(USER)).toBeUndefined();
  });

  test('KMS GenerateDataKey: a 256-bit data key, its ciphertext bound to the encryption context and the key', async () => {
    const context = { appId: APP_ID, tenantId: USER.tenantId, aadObjectId: USER.aadObjectId, purpose: 'access_token' };
    const out = await kms.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: context }));
    expect(out.Plaintext).toHaveLength(32);
    expect(out.KeyId).toBe(keyArn);
    const blob = out.CiphertextBlob!;
    const back = await kms.send(new DecryptCommand({ KeyId: keyArn, CiphertextBlob: blob, EncryptionContext: context }));
    expect(Buffer.from(back.Plaintext!).equals(Buffer.from(out.Plaintext!))).toBe(true);
    for (const wrong of [{ ...context, purpose: 'refresh_token' }, { ...context, aadObjectId: 'someone-else' }, {}]) {
      await expect(kms.send(new DecryptCommand({ KeyId: keyArn, CiphertextBlob: blob, EncryptionContext: wrong })))
        .rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    }
  });

  test('conversation store: pending messages (transaction, dedupe, order, pages), prompt marker, claims', async () => {
    const store = new ConversationStore({ ddb, tableName: TABLES.conversationTable, queryPageSize: 2 });
    const t0 = Date.now();
    for (const [i, id] of ['3', '1', '2', '4', '5'].entries()) {
      expect(await store.addPendingMessage(USER, id, pendingEvent(id, new Date(t0 + Number(id) * 1000 + i).toISOString()))).toBe('stored');
    }
    expect(await store.addPendingMessage(USER, '3', pendingEvent('3', new Date(t0).toISOString()))).toBe('duplicate');
    const pending = await store.listPendingMessages(USER);
    expect(pending.map((p) => p.event.message.id)).toEqual(['1', '2', '3', '4', '5']);
    await store.deletePendingMessage(USER, pending[0].key);
    expect((await store.listPendingMessages(USER)).length).toBe(4);

    expect(await store.claimSignInPrompt(USER)).toBe(true);
    expect(await store.claimSignInPrompt(USER)).toBe(false);
    await store.releaseSignInPrompt(USER);
    expect(await store.claimSignInPrompt(USER)).toBe(true);

    expect(await store.claim('sso#value-1', 60)).toBe(true);
    expect(await store.claim('sso#value-1', 60)).toBe(false);
    await store.releaseClaim('sso#value-1');
    expect(await store.claim('sso#value-1', 60)).toBe(true);
  });

  test('worker idempotency: one acquirer, in-progress, replied is terminal, one apology', async () => {
    const store = new IdempotencyStore({ ddb, tableName: TABLES.conversationTable });
    const first = await store.begin('worker#conv#1', 60_000);
    expect(first).toMatchObject({ outcome: 'acquired', attempt: 1 });
    expect(await store.begin('worker#conv#1', 60_000)).toMatchObject({ outcome: 'in-progress' });
    expect(await store.claimApology('worker#conv#1')).toBe(true);
    expect(await store.claimApology('worker#conv#1')).toBe(false);
    await store.releaseApology('worker#conv#1');
    await store.markFailed('worker#conv#1', (first as { owner: string }).owner, 'TypeError');
    expect(await store.begin('worker#conv#1', 60_000)).toMatchObject({ outcome: 'acquired', attempt: 2 });
    await store.markReplied('worker#conv#1', 'reply-1');
    expect(await store.begin('worker#conv#1', 60_000)).toMatchObject({ outcome: 'completed', state: 'replied' });
    expect(await store.claimApology('worker#conv#1')).toBe(false);
  });

  test('DynamoDB errors and expressions the SDK relies on', async () => {
    const T = TABLES.conversationTable;
    const key = { pk: { S: 'x#1' }, sk: { S: 'k' } };
    await ddb.send(new PutItemCommand({ TableName: T, Item: { ...key, n: { N: '1' }, tags: { SS: ['a'] } } }));
    const failed = ddb.send(new PutItemCommand({ TableName: T, Item: key, ConditionExpression: 'attribute_not_exists(pk)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
    await expect(failed).rejects.toMatchObject({ name: 'ConditionalCheckFailedException', Item: { n: { N: '1' } } });
    const up = await ddb.send(new UpdateItemCommand({
      TableName: T,
      Key: key,
      UpdateExpression: 'SET #n = #n + :two, #m = if_not_exists(#m, :zero) ADD #tags :b REMOVE #gone',
      ConditionExpression: '#n BETWEEN :zero AND :two AND size(#tags) = :one AND NOT contains(#tags, :bb)',
      ExpressionAttributeNames: { '#n': 'n', '#m': 'm', '#tags': 'tags', '#gone': 'gone' },
      ExpressionAttributeValues: { ':two': { N: '2' }, ':zero': { N: '0' }, ':one': { N: '1' }, ':b': { SS: ['b'] }, ':bb': { S: 'b' } },
      ReturnValues: 'ALL_NEW',
    }));
    expect(up.Attributes).toMatchObject({ n: { N: '3' }, m: { N: '0' } });
    expect([...up.Attributes!.tags.SS!].sort()).toEqual(['a', 'b']);
    await expect(ddb.send(new UpdateItemCommand({ TableName: T, Key: key, UpdateExpression: 'SET pk = :v', ExpressionAttributeValues: { ':v': { S: 'y' } } })))
      .rejects.toMatchObject({ name: 'ValidationException' });
    await expect(ddb.send(new GetItemCommand({ TableName: T, Key: { pk: { S: 'x#1' } } }))).rejects.toMatchObject({ name: 'ValidationException' });
    const tx = ddb.send(new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: T, Item: { pk: { S: 'x#2' }, sk: { S: 'k' } } } },
        { ConditionCheck: { TableName: T, Key: key, ConditionExpression: '#n = :nine', ExpressionAttributeNames: { '#n': 'n' }, ExpressionAttributeValues: { ':nine': { N: '9' } } } },
      ],
    }));
    await expect(tx).rejects.toMatchObject({ name: 'TransactionCanceledException', CancellationReasons: [{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }] });
    expect((await ddb.send(new GetItemCommand({ TableName: T, Key: { pk: { S: 'x#2' }, sk: { S: 'k' } } }))).Item).toBeUndefined();
    const q = await ddb.send(new QueryCommand({
      TableName: T,
      KeyConditionExpression: 'pk = :p AND sk BETWEEN :a AND :z',
      ExpressionAttributeValues: { ':p': { S: 'x#1' }, ':a': { S: 'a' }, ':z': { S: 'z' } },
      FilterExpression: 'attribute_exists(m)',
      ScanIndexForward: false,
    }));
    expect(q.Items?.map((i) => i.sk.S)).toEqual(['k']);
  });
});
