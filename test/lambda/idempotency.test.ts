import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyStore, idempotencyKey } from '../../lambda/shared/idempotency';
import { awsClientConfig, createTables, LocalAws, startLocalAws } from '../support/local-aws';
import { clientLosingOneResponse } from '../support/lost-response';

let aws: LocalAws;
let ddb: DynamoDBClient;
let n = 0;
const TABLE = 'conversations';

beforeAll(async () => {
  aws = await startLocalAws();
  await createTables(aws.dynamodbEndpoint, { tokenTable: 'tokens', conversationTable: TABLE });
  ddb = new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint));
}, 120_000);
afterAll(async () => {
  ddb?.destroy();
  await aws?.stop();
});

function fresh(now?: () => number): { store: IdempotencyStore; key: string } {
  n++;
  return { store: new IdempotencyStore({ ddb, tableName: TABLE, now }), key: idempotencyKey(`19:c${n}@thread.tacv2;messageid=1`, `17000${n}`) };
}

test('key shape: each id percent-encoded, so distinct (conversation, activity) pairs never share a key', () => {
  expect(idempotencyKey('a:1x', '123')).toBe('worker#a%3A1x#123');
  expect(idempotencyKey('a#b', 'c')).not.toBe(idempotencyKey('a', 'b#c'));
  expect(() => idempotencyKey('', '1')).toThrow(TypeError);
});

test('a message whose ids would have joined to the same key as an answered one is not skipped', async () => {
  const store = new IdempotencyStore({ ddb, tableName: TABLE });
  n++;
  const answered = idempotencyKey(`19:c${n}@thread.tacv2`, '1#2');
  const other = idempotencyKey(`19:c${n}@thread.tacv2#1`, '2'); // joined without encoding: the same `…#1#2`
  expect(await store.begin(answered, 60_000)).toMatchObject({ outcome: 'acquired' });
  await store.markReplied(answered, 'reply-1');
  expect(await store.begin(other, 60_000)).toMatchObject({ outcome: 'acquired' });
});

test('first attempt acquires; item has state, lease, TTL', async () => {
  const t = 1_800_000_000_000;
  const { store, key } = fresh(() => t);
  const r = await store.begin(key, 60_000);
  expect(r).toMatchObject({ outcome: 'acquired', attempt: 1, apologized: false });
  const rec = await store.get(key);
  expect(rec).toMatchObject({ state: 'started', attempts: 1, leaseUntil: t + 60_000, apologized: false });
});

test('a concurrent duplicate with a live lease is told in-progress', async () => {
  const { store, key } = fresh();
  const [a, b] = await Promise.all([store.begin(key, 60_000), store.begin(key, 60_000)]);
  const outcomes = [a.outcome, b.outcome].sort();
  expect(outcomes).toEqual(['acquired', 'in-progress']);
});

test('a begin the SDK retried after its response was lost (timeout) still acquires: the record is its own', async () => {
  const { ddb: lossy, lost } = clientLosingOneResponse(aws.dynamodbEndpoint, 'UpdateItem');
  n++;
  const key = idempotencyKey(`19:c${n}@thread.tacv2`, `17000${n}`);
  const store = new IdempotencyStore({ ddb: lossy, tableName: TABLE });
  // Before the fix the retry met its own applied update and was told in-progress: the message was never answered.
  expect(await store.begin(key, 60_000)).toMatchObject({ outcome: 'acquired' });
  expect(lost()).toBe(1);
  // A different attempt still sees the live lease.
  expect(await new IdempotencyStore({ ddb, tableName: TABLE }).begin(key, 60_000)).toMatchObject({ outcome: 'in-progress' });
  lossy.destroy();
});

test('replied is terminal: every later begin is completed', async () => {
  const { store, key } = fresh();
  const r = await store.begin(key, 60_000);
  if (r.outcome !== 'acquired') throw new Error('expected acquired');
  await store.markReplied(key, 'reply-1');
  expect(await store.get(key)).toMatchObject({ state: 'replied', replyId: 'reply-1', leaseUntil: 0 });
  expect(await store.begin(key, 60_000)).toEqual({ outcome: 'completed', state: 'replied' });
  // a late markFailed / markDone from the same owner does not downgrade it
  await store.markFailed(key, r.owner, 'Error');
  await store.markDone(key, r.owner);
  expect((await store.get(key))?.state).toBe('replied');
  expect(await store.claimApology(key)).toBe(false);
});

test('done is terminal', async () => {
  const { store, key } = fresh();
  const r = await store.begin(key, 60_000);
  if (r.outcome !== 'acquired') throw new Error('expected acquired');
  await store.markDone(key, r.owner);
  expect(await store.begin(key, 60_000)).toEqual({ outcome: 'completed', state: 'done' });
});

test('failed releases the lease: the retry acquires at once (attempt 2), error name recorded', async () => {
  const { store, key } = fresh();
  const r = await store.begin(key, 600_000);
  if (r.outcome !== 'acquired') throw new Error('expected acquired');
  await store.markFailed(key, r.owner, 'GraphError: with spaces & text');
  expect(await store.get(key)).toMatchObject({ state: 'failed', leaseUntil: 0, lastError: 'GraphErrorwithspacestext' });
  const r2 = await store.begin(key, 600_000);
  expect(r2).toMatchObject({ outcome: 'acquired', attempt: 2 });
});

test('a stale started (lease expired, e.g. a crashed attempt) is taken over; a live one is not', async () => {
  let t = 1_800_000_000_000;
  const { store, key } = fresh(() => t);
  const first = await store.begin(key, 30_000);
  expect(first.outcome).toBe('acquired');
  t += 29_000;
  expect(await store.begin(key, 30_000)).toEqual({ outcome: 'in-progress', leaseUntil: 1_800_000_030_000 });
  t += 2_000;
  const second = await store.begin(key, 30_000);
  expect(second).toMatchObject({ outcome: 'acquired', attempt: 2 });
  // the first owner can no longer record done/failed
  if (first.outcome === 'acquired') await store.markFailed(key, first.owner, 'Late');
  expect((await store.get(key))?.state).toBe('started');
});

test('one apology per message across attempts; released after a definite send failure', async () => {
  const { store, key } = fresh();
  expect(await store.claimApology(key)).toBe(false); // no item yet
  const r = await store.begin(key, 60_000);
  if (r.outcome !== 'acquired') throw new Error('expected acquired');
  const claims = await Promise.all([store.claimApology(key), store.claimApology(key), store.claimApology(key)]);
  expect(claims.filter(Boolean)).toHaveLength(1);
  await store.releaseApology(key);
  expect(await store.claimApology(key)).toBe(true);
  await store.markFailed(key, r.owner, 'Error');
  const r2 = await store.begin(key, 60_000);
  expect(r2).toMatchObject({ outcome: 'acquired', attempt: 2, apologized: true });
  expect(await store.claimApology(key)).toBe(false);
});
