import { DynamoDBClient, GetItemCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { ConversationReference, PendingEvent } from '../../lambda/shared/contract';
import {
  ConversationStore,
  DEFAULT_PENDING_TTL_SECONDS,
  activityKey,
  pendingKey,
  pendingMessageKey,
} from '../../lambda/shared/conversation-store';
import { LocalAws, awsClientConfig, createTables, startLocalAws } from '../support/local-aws';
import { clientLosingOneResponse } from '../support/lost-response';

jest.setTimeout(180_000);

const TABLE = 'conversations';
const TENANT = '11111111-1111-1111-1111-111111111111';
/**
 * The store's clock (ms). A day ahead of the real clock, on a whole hour: every `ttl` the tests write lies in the real
 * future. DynamoDB Local runs a real TTL sweeper that deletes items whose `ttl` is in the real past within seconds (it
 * did: a fixed date in November 2026 made the dedupe record vanish between the write and the read once that date was
 * a day old), so a test clock in the past makes reads race the sweeper.
 */
const T0 = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 86_400_000;

let aws: LocalAws;
let ddb: DynamoDBClient;
const calls: string[] = [];
let clock = T0;
let seq = 0;

function freshUser() {
  seq++;
  return { tenantId: TENANT, aadObjectId: `aaaaaaaa-0000-0000-0000-${String(seq).padStart(12, '0')}` };
}

function reference(conversationId = 'a:1personal-chat'): ConversationReference {
  return {
    serviceUrl: 'https://smba.trafficmanager.net/amer/',
    channelId: 'msteams',
    conversation: { id: conversationId, conversationType: 'personal', tenantId: TENANT },
    bot: { id: '28:00000000-0000-0000-0000-00000000b07a', name: 'Bot' },
    user: { id: '29:1user', aadObjectId: 'aaaaaaaa-0000-0000-0000-000000000001', name: 'Ada' },
    activityId: '1',
    locale: 'en-US',
  };
}

function pendingEvent(activityId: string, receivedAtMs: number, text = `message ${activityId}`, conversationId?: string): PendingEvent {
  return {
    type: 'teams-delegated-auth-bot.message',
    version: '2',
    resumed: false,
    receivedAt: new Date(receivedAtMs).toISOString(),
    conversation: { ...reference(conversationId), activityId },
    message: { id: activityId, text, textFormat: 'plain', attachments: [] },
  };
}

function newStore(opts: Partial<ConstructorParameters<typeof ConversationStore>[0]> = {}): ConversationStore {
  return new ConversationStore({ ddb, tableName: TABLE, now: () => clock, ...opts });
}

async function raw(pk: string, sk: string) {
  return (await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: pk }, sk: { S: sk } }, ConsistentRead: true }))).Item;
}

beforeAll(async () => {
  aws = await startLocalAws();
  // eslint-disable-next-line no-console
  console.log(`local AWS started: ${JSON.stringify(aws.timings)}`);
  await createTables(aws.dynamodbEndpoint, { tokenTable: 'tokens', conversationTable: TABLE });
  ddb = new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint));
  ddb.middlewareStack.add((next, context) => async (args) => {
    calls.push(context.commandName ?? '?');
    return next(args);
  }, { step: 'initialize', name: 'countCalls' });
});

afterAll(async () => {
  ddb?.destroy();
  await aws?.stop();
});

beforeEach(() => {
  calls.length = 0;
  clock = T0;
});

describe('pending messages', () => {
  test('one TransactWriteItems stores the dedupe record and the message, both with ttl = now + 24 h', async () => {
    const store = newStore();
    const user = freshUser();
    const event = pendingEvent('1700000000001', T0 - 5);
    expect(await store.addPendingMessage(user, '1700000000001', event)).toBe('stored');
    expect(calls).toEqual(['TransactWriteItemsCommand']);

    const ttl = { N: String(T0 / 1000 + DEFAULT_PENDING_TTL_SECONDS) };
    const sk = pendingMessageKey(T0 - 5, '1700000000001');
    expect(sk).toBe(`msg#${T0 - 5}#1700000000001`);
    expect(sk).toMatch(/^msg#\d{13}#/);
    const msg = await raw(pendingKey(user), sk);
    expect(msg).toMatchObject({ ttl, event: { S: JSON.stringify(event) } });
    const dedupe = await raw(activityKey('a:1personal-chat', '1700000000001'), 'activity');
    expect(dedupe).toMatchObject({ ttl });

    expect(await store.listPendingMessages(user)).toEqual([{ key: sk, event }]);
  });

  test('a Teams retry of the same activity is a duplicate: nothing more is written', async () => {
    const store = newStore();
    const user = freshUser();
    expect(await store.addPendingMessage(user, 'act-1', pendingEvent('act-1', T0))).toBe('stored');
    clock += 15_000;
    expect(await store.addPendingMessage(user, 'act-1', pendingEvent('act-1', T0 + 15_000))).toBe('duplicate');
    const list = await store.listPendingMessages(user);
    expect(list.map((m) => m.event.message.id)).toEqual(['act-1']);
  });

  test('concurrent adds of the same activity id: exactly one is stored', async () => {
    const store = newStore();
    const user = freshUser();
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) =>
      store.addPendingMessage(user, 'act-race', pendingEvent('act-race', T0 + i))));
    expect(results.filter((r) => r === 'stored')).toHaveLength(1);
    expect(results.filter((r) => r === 'duplicate')).toHaveLength(15);
    expect(await store.listPendingMessages(user)).toHaveLength(1);
  });

  test('a TransactionConflict (concurrent transaction on the item) is retried; other cancellations are thrown', async () => {
    // DynamoDB Local serializes transactions, so the conflict is injected in front of the real server.
    const flaky = new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint));
    let inject: string[][] = [];
    let attempts = 0;
    flaky.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'TransactWriteItemsCommand') {
        attempts++;
        const reasons = inject.shift();
        if (reasons) {
          throw new TransactionCanceledException({
            message: 'Transaction cancelled',
            $metadata: {},
            CancellationReasons: reasons.map((Code) => ({ Code })),
          });
        }
      }
      return next(args);
    }, { step: 'initialize', name: 'injectConflict' });
    try {
      const store = new ConversationStore({ ddb: flaky, tableName: TABLE, now: () => clock });
      const user = freshUser();
      inject = [['None', 'TransactionConflict'], ['TransactionConflict', 'None']];
      expect(await store.addPendingMessage(user, 'conflict-1', pendingEvent('conflict-1', T0))).toBe('stored');
      expect(attempts).toBe(3);
      inject = [['TransactionConflict', 'None']];
      expect(await store.addPendingMessage(user, 'conflict-1', pendingEvent('conflict-1', T0))).toBe('duplicate');

      const limited = new ConversationStore({ ddb: flaky, tableName: TABLE, now: () => clock, maxTransactionAttempts: 2 });
      inject = [['TransactionConflict', 'None'], ['TransactionConflict', 'None']];
      await expect(limited.addPendingMessage(user, 'conflict-2', pendingEvent('conflict-2', T0)))
        .rejects.toMatchObject({ name: 'TransactionCanceledException' });
      inject = [['None', 'ValidationError']];
      await expect(store.addPendingMessage(user, 'conflict-3', pendingEvent('conflict-3', T0)))
        .rejects.toMatchObject({ name: 'TransactionCanceledException' });
      expect((await store.listPendingMessages(user)).map((m) => m.event.message.id)).toEqual(['conflict-1']);
    } finally {
      flaky.destroy();
    }
  });

  test('the same activity id in another conversation is not a duplicate (ids are unique per conversation only)', async () => {
    const store = newStore();
    const user = freshUser();
    expect(await store.addPendingMessage(user, 'same-id', pendingEvent('same-id', T0, 'a', 'a:conv-1'))).toBe('stored');
    expect(await store.addPendingMessage(user, 'same-id', pendingEvent('same-id', T0 + 1, 'b', 'a:conv-2'))).toBe('stored');
    expect(await store.addPendingMessage(user, 'same-id', pendingEvent('same-id', T0 + 2, 'c', 'a:conv-2'))).toBe('duplicate');
    // '#' in ids cannot forge another key
    expect(activityKey('a#b', 'c')).not.toBe(activityKey('a', 'b#c'));
  });

  test('every message kept, listed in arrival order, whatever order the writes completed in', async () => {
    const store = newStore();
    const user = freshUser();
    const n = 60;
    const order = Array.from({ length: n }, (_, i) => i).sort(() => Math.random() - 0.5);
    await Promise.all(order.map((i) => store.addPendingMessage(user, `m${i}`, pendingEvent(`m${i}`, T0 + i * 7))));
    // two messages in the same millisecond keep a stable order too
    await store.addPendingMessage(user, 'z-same-ms', pendingEvent('z-same-ms', T0 + n * 7));
    await store.addPendingMessage(user, 'a-same-ms', pendingEvent('a-same-ms', T0 + n * 7));
    const list = await store.listPendingMessages(user);
    expect(list.map((m) => m.event.message.id)).toEqual([
      ...Array.from({ length: n }, (_, i) => `m${i}`), 'a-same-ms', 'z-same-ms',
    ]);
    // another user's messages are not listed
    expect(await store.listPendingMessages(freshUser())).toEqual([]);
  });

  test('all Query pages are read: small pages (Limit) and DynamoDB\'s 1 MB pages', async () => {
    const user = freshUser();
    const writer = newStore();
    for (let i = 0; i < 25; i++) await writer.addPendingMessage(user, `p${i}`, pendingEvent(`p${i}`, T0 + i));
    calls.length = 0;
    const paged = await newStore({ queryPageSize: 4 }).listPendingMessages(user);
    expect(paged.map((m) => m.event.message.id)).toEqual(Array.from({ length: 25 }, (_, i) => `p${i}`));
    expect(calls.filter((c) => c === 'QueryCommand').length).toBeGreaterThanOrEqual(7);

    const big = freshUser();
    const text = 'x'.repeat(60_000);
    for (let i = 0; i < 24; i++) await writer.addPendingMessage(big, `b${i}`, pendingEvent(`b${i}`, T0 + i, text)); // ~1.4 MB
    calls.length = 0;
    const all = await writer.listPendingMessages(big);
    expect(all).toHaveLength(24);
    expect(all.every((m) => m.event.message.text === text)).toBe(true);
    expect(calls.filter((c) => c === 'QueryCommand').length).toBeGreaterThanOrEqual(2);
  });

  test('expired messages (TTL not yet applied) are not listed', async () => {
    const store = newStore({ pendingTtlSeconds: 60 });
    const user = freshUser();
    await store.addPendingMessage(user, 'old', pendingEvent('old', T0));
    clock += 30_000;
    await store.addPendingMessage(user, 'new', pendingEvent('new', T0 + 30_000));
    clock += 45_000; // 'old' expired at T0+60 s, 'new' lives until T0+90 s
    expect((await store.listPendingMessages(user)).map((m) => m.event.message.id)).toEqual(['new']);
  });

  test('deletePendingMessage removes exactly one message; a bad key is refused', async () => {
    const store = newStore();
    const user = freshUser();
    for (const id of ['d1', 'd2', 'd3']) await store.addPendingMessage(user, id, pendingEvent(id, T0 + Number(id[1])));
    const list = await store.listPendingMessages(user);
    await store.deletePendingMessage(user, list[1].key);
    await store.deletePendingMessage(user, list[1].key); // idempotent
    expect((await store.listPendingMessages(user)).map((m) => m.event.message.id)).toEqual(['d1', 'd3']);
    await expect(store.deletePendingMessage(user, 'prompt')).rejects.toThrow(TypeError);
  });

  test('the receivedAt of the event orders messages; the store clock is used when it does not parse', async () => {
    const store = newStore();
    const user = freshUser();
    clock = T0 + 1000;
    await store.addPendingMessage(user, 'bad-date', { ...pendingEvent('bad-date', T0), receivedAt: 'not a date' });
    await store.addPendingMessage(user, 'early', pendingEvent('early', T0 + 10));
    const list = await store.listPendingMessages(user);
    expect(list.map((m) => m.key)).toEqual([pendingMessageKey(T0 + 10, 'early'), pendingMessageKey(T0 + 1000, 'bad-date')]);
  });
});

describe('sign-in prompt marker', () => {
  test('one card per pending sign-in: claim once, again after release or expiry (10 min)', async () => {
    const store = newStore();
    const user = freshUser();
    expect(await store.claimSignInPrompt(user)).toBe(true);
    expect(await store.claimSignInPrompt(user)).toBe(false);
    const marker = await raw(pendingKey(user), 'prompt');
    expect(marker).toMatchObject({ expiresAt: { N: String(T0 / 1000 + 600) }, ttl: { N: String(T0 / 1000 + 600) } });
    expect(calls.filter((c) => c !== 'GetItemCommand')).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
    await store.releaseSignInPrompt(user);
    expect(await store.claimSignInPrompt(user)).toBe(true);
    clock += 600_000;
    expect(await store.claimSignInPrompt(user)).toBe(false); // expiresAt == now: still live
    clock += 1000;
    expect(await store.claimSignInPrompt(user)).toBe(true);
  });

  test('concurrent claims: exactly one card', async () => {
    const store = newStore();
    const user = freshUser();
    const results = await Promise.all(Array.from({ length: 12 }, () => store.claimSignInPrompt(user)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test('the marker does not show up as a pending message', async () => {
    const store = newStore();
    const user = freshUser();
    await store.claimSignInPrompt(user);
    expect(await store.listPendingMessages(user)).toEqual([]);
  });
});

describe('keepForSignIn: the message, its dedupe record and the prompt marker in one transaction', () => {
  test('first contact is one TransactWriteItems that keeps the message and claims the prompt', async () => {
    const store = newStore();
    const user = freshUser();
    expect(await store.keepForSignIn(user, 'fc-1', pendingEvent('fc-1', T0))).toBe('prompt');
    expect(calls).toEqual(['TransactWriteItemsCommand']);
    expect(await raw(pendingKey(user), 'prompt')).toMatchObject({
      expiresAt: { N: String(T0 / 1000 + 600) },
      kept: { N: '1' },
      ttl: { N: String(T0 / 1000 + DEFAULT_PENDING_TTL_SECONDS) },
    });
    expect(await raw(activityKey('a:1personal-chat', 'fc-1'), 'activity')).toBeDefined();
    expect((await store.listPendingMessages(user)).map((m) => m.event.message.id)).toEqual(['fc-1']);
  });

  test('while a card is live, later messages are kept quietly (the claim fails, a second transaction keeps)', async () => {
    const store = newStore();
    const user = freshUser();
    expect(await store.keepForSignIn(user, 'q-1', pendingEvent('q-1', T0))).toBe('prompt');
    calls.length = 0;
    expect(await store.keepForSignIn(user, 'q-2', pendingEvent('q-2', T0 + 1))).toBe('kept');
    expect(calls).toEqual(['TransactWriteItemsCommand', 'TransactWriteItemsCommand']);
    expect(await store.keepForSignIn(user, 'q-2', pendingEvent('q-2', T0 + 2))).toBe('duplicate');
    expect((await raw(pendingKey(user), 'prompt'))?.kept).toEqual({ N: '2' });
    // Released (card failed, sign-in failed): the next message claims again; the count stays.
    await store.releaseSignInPrompt(user);
    expect(await store.keepForSignIn(user, 'q-3', pendingEvent('q-3', T0 + 3))).toBe('prompt');
    expect((await raw(pendingKey(user), 'prompt'))?.kept).toEqual({ N: '3' });
    // Expired card: claimed again.
    clock += 601_000;
    expect(await store.keepForSignIn(user, 'q-4', pendingEvent('q-4', T0 + 4))).toBe('prompt');
    expect((await store.listPendingMessages(user)).map((m) => m.event.message.id)).toEqual(['q-1', 'q-2', 'q-3', 'q-4']);
  });

  test('at the cap the message is not kept; one caller tells the user; a completed sign-in resets the count', async () => {
    const store = newStore({ maxPendingMessages: 3 });
    const user = freshUser();
    expect(await store.keepForSignIn(user, 'c-1', pendingEvent('c-1', T0))).toBe('prompt');
    expect(await store.keepForSignIn(user, 'c-2', pendingEvent('c-2', T0 + 1))).toBe('kept');
    expect(await store.keepForSignIn(user, 'c-3', pendingEvent('c-3', T0 + 2))).toBe('kept');
    const over = await Promise.all(['c-4', 'c-5', 'c-6'].map((id, i) => store.keepForSignIn(user, id, pendingEvent(id, T0 + 3 + i))));
    expect(over.every((o) => typeof o === 'object' && o.full)).toBe(true);
    expect(over.filter((o) => typeof o === 'object' && o.notify)).toHaveLength(1);
    expect(over.filter((o) => typeof o === 'object' && o.prompt)).toHaveLength(0); // the card is live
    expect((await store.listPendingMessages(user)).map((m) => m.event.message.id)).toEqual(['c-1', 'c-2', 'c-3']);
    // Card released while full: the next message is not kept, but claims a card (the user needs one to sign in).
    await store.releaseSignInPrompt(user);
    expect(await store.keepForSignIn(user, 'c-7', pendingEvent('c-7', T0 + 7))).toEqual({ full: true, notify: false, prompt: true });
    // Signed in: the marker and its count go; the next sign-in keeps up to 3 again.
    await store.endSignInPrompt(user);
    for (const m of await store.listPendingMessages(user)) await store.deletePendingMessage(user, m.key);
    expect(await store.keepForSignIn(user, 'c-8', pendingEvent('c-8', T0 + 8))).toBe('prompt');
    expect((await raw(pendingKey(user), 'prompt'))?.kept).toEqual({ N: '1' });
  });

  test('at the cap, the SDK\'s retry of a notice or card claim whose response was lost is still the caller\'s', async () => {
    const user = freshUser();
    const store = newStore({ maxPendingMessages: 1 });
    expect(await store.keepForSignIn(user, 'l-1', pendingEvent('l-1', T0))).toBe('prompt');
    await store.releaseSignInPrompt(user); // the card failed: the next message claims one
    // The cap notice's update is applied, its response lost, the SDK retries: the user is still told (false before).
    const notice = clientLosingOneResponse(aws.dynamodbEndpoint, 'UpdateItem');
    const lossyNotice = new ConversationStore({ ddb: notice.ddb, tableName: TABLE, now: () => clock, maxPendingMessages: 1 });
    expect(await lossyNotice.keepForSignIn(user, 'l-2', pendingEvent('l-2', T0 + 1))).toEqual({ full: true, notify: true, prompt: true });
    expect(notice.lost()).toBe(1);
    notice.ddb.destroy();
    // The same for the card claim (the second UpdateItem at the cap): the caller still posts the card (false before).
    const other = freshUser();
    expect(await store.keepForSignIn(other, 'm-1', pendingEvent('m-1', T0))).toBe('prompt');
    await store.releaseSignInPrompt(other);
    const claim = clientLosingOneResponse(aws.dynamodbEndpoint, 'UpdateItem', 1);
    const lossyClaim = new ConversationStore({ ddb: claim.ddb, tableName: TABLE, now: () => clock, maxPendingMessages: 1 });
    expect(await lossyClaim.keepForSignIn(other, 'm-2', pendingEvent('m-2', T0 + 1))).toEqual({ full: true, notify: true, prompt: true });
    expect(claim.lost()).toBe(1);
    claim.ddb.destroy();
    // Anyone else still sees both: no second notice, no second card.
    expect(await store.keepForSignIn(other, 'm-3', pendingEvent('m-3', T0 + 2))).toEqual({ full: true, notify: false, prompt: false });
  });

  test('concurrent first messages: one claims the prompt, every message is kept once', async () => {
    const store = newStore();
    const user = freshUser();
    const ids = Array.from({ length: 10 }, (_, i) => `cc-${i}`);
    const out = await Promise.all([...ids, ...ids.slice(0, 3)].map((id, i) => store.keepForSignIn(user, id, pendingEvent(id, T0 + i))));
    expect(out.filter((o) => o === 'prompt')).toHaveLength(1);
    expect(out.filter((o) => o === 'duplicate')).toHaveLength(3);
    expect((await store.listPendingMessages(user)).length).toBe(10);
    expect((await raw(pendingKey(user), 'prompt'))?.kept).toEqual({ N: '10' });
  });
});

describe('claim', () => {
  test('one winner per key until it expires; release lets the next one in', async () => {
    const store = newStore();
    expect(await store.claim('sso#exchange-1', 60)).toBe(true);
    expect(await store.claim('sso#exchange-1', 60)).toBe(false);
    expect(await store.claim('sso#exchange-2', 60)).toBe(true);
    expect(await raw('sso#exchange-1', 'claim')).toMatchObject({ ttl: { N: String(T0 / 1000 + 60) } });
    clock += 61_000;
    expect(await store.claim('sso#exchange-1', 60)).toBe(true);
    await store.releaseClaim('sso#exchange-1');
    expect(await store.claim('sso#exchange-1', 60)).toBe(true);
    await expect(store.claim('', 60)).rejects.toThrow(TypeError);
    await expect(store.claim('k', 0)).rejects.toThrow(TypeError);
  });

  test('concurrent claims of one key (several Teams clients send the same value.id): exactly one true', async () => {
    const store = newStore();
    const results = await Promise.all(Array.from({ length: 12 }, () => store.claim('sso#fan-out', 300)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
  test('DynamoDB failures other than the condition propagate (the caller answers 503, not "already claimed")', async () => {
    const broken = new ConversationStore({ ddb, tableName: 'no-such-table', now: () => clock });
    await expect(broken.claim('sso#x', 60)).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  test('a claim the SDK retried after its response was lost is still the caller\'s (a sign out is not taken for a duplicate)', async () => {
    const { ddb: lossy, lost } = clientLosingOneResponse(aws.dynamodbEndpoint, 'PutItem');
    const store = new ConversationStore({ ddb: lossy, tableName: TABLE, now: () => clock });
    expect(await store.claim('signout#lost-response#1', 60)).toBe(true); // false before the fix: its own put met itself
    expect(lost()).toBe(1);
    expect(await newStore().claim('signout#lost-response#1', 60)).toBe(false); // anyone else still sees the claim
    lossy.destroy();
  });
});
