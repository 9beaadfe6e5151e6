import { randomBytes } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { type EncryptedToken, TokenCipher, TokenIntegrityError } from '../../lambda/shared/crypto';
import { setLogSink } from '../../lambda/shared/log';
import {
  DEFAULT_REFRESH_TTL_SECONDS,
  SignedOutError,
  StoredToken,
  TokenStore,
  isUsable,
  normalizeUserKey,
  tokenKey,
} from '../../lambda/shared/token-store';
import { putLegacyTokenItem } from '../support/legacy-token-item';
import { LocalAws, awsClientConfig, createKey, createTables, startLocalAws } from '../support/local-aws';

jest.setTimeout(120_000);

/** The basis of a write for a user who never signed out. */
const NEVER = { generation: 0 };

const APP_ID = '00000000-0000-0000-0000-00000000b07a';
const TABLE = 'tokens';
const ADA = { tenantId: '11111111-1111-1111-1111-111111111111', aadObjectId: 'aaaaaaaa-0000-0000-0000-000000000001' };
const BOB = { tenantId: '11111111-1111-1111-1111-111111111111', aadObjectId: 'bbbbbbbb-0000-0000-0000-000000000002' };
/**
 * The store's clock (ms): a day ahead of the real clock, on a whole hour, so no `ttl` a test writes (the shortest:
 * T0 + 1 h) is in the real past. DynamoDB Local runs a real TTL sweeper that deletes such items within seconds to
 * minutes, between a write and the read that checks it (the cause of the conversation-store failure of issue 11,
 * point 12; this file had a fixed date of 2026-11-23, already in the past for the 1-hour ttl test, and for every
 * 90-day ttl from 2027-02-21).
 */
const T0 = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 86_400_000;

let aws: LocalAws;
let ddb: DynamoDBClient;
let kms: KMSClient;
let keyArn: string;
const calls: string[] = [];
let clock = T0;
let userSeq = 0;

function countCalls(client: { middlewareStack: DynamoDBClient['middlewareStack'] }, service: string): void {
  client.middlewareStack.add((next, context) => async (args) => {
    calls.push(`${service}:${context.commandName}`);
    return next(args);
  }, { step: 'initialize', name: 'countCalls' });
}

function newStore(opts: Partial<ConstructorParameters<typeof TokenStore>[0]> = {}): TokenStore {
  return new TokenStore({
    ddb,
    cipher: new TokenCipher({ kms, keyId: keyArn }),
    tableName: TABLE,
    appId: APP_ID,
    now: () => clock,
    ...opts,
  });
}

/** A fresh user per test (tests share the table). */
function freshUser() {
  userSeq++;
  return { tenantId: ADA.tenantId, aadObjectId: `cccccccc-0000-0000-0000-${String(userSeq).padStart(12, '0')}` };
}

function jwt(bytes: number): string {
  return `eyJ${randomBytes(bytes).toString('base64url')}`.slice(0, bytes);
}

async function rawItem(user: { tenantId: string; aadObjectId: string }) {
  return (await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: tokenKey(user) } }, ConsistentRead: true }))).Item;
}

beforeAll(async () => {
  aws = await startLocalAws();
  // eslint-disable-next-line no-console
  console.log(`local AWS started: ${JSON.stringify(aws.timings)}`);
  await createTables(aws.dynamodbEndpoint, { tokenTable: TABLE, conversationTable: 'conversations' });
  keyArn = await createKey(aws.motoEndpoint);
  ddb = new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint));
  kms = new KMSClient(awsClientConfig(aws.motoEndpoint));
  countCalls(ddb, 'ddb');
  countCalls(kms as unknown as { middlewareStack: DynamoDBClient['middlewareStack'] }, 'kms');
});

afterAll(async () => {
  ddb?.destroy();
  kms?.destroy();
  await aws?.stop();
});

beforeEach(() => {
  calls.length = 0;
  clock = T0;
});

describe('TokenStore', () => {
  test('put encrypts an 8 KB access token and a refresh token (one GenerateDataKey each); get is ONE GetItem and no KMS call; both decrypt', async () => {
    const store = newStore();
    const accessToken = jwt(8 * 1024);
    const refreshToken = `0.A${randomBytes(1400).toString('base64url')}`;
    const put = await store.put(ADA, { accessToken, refreshToken, expiresIn: 4000, scope: 'User.Read Mail.Read' }, NEVER);
    expect(calls.filter((c) => c.startsWith('kms:'))).toEqual(['kms:GenerateDataKeyCommand', 'kms:GenerateDataKeyCommand']);
    expect(calls.filter((c) => c.startsWith('ddb:'))).toEqual(['ddb:UpdateItemCommand']);

    calls.length = 0;
    const got = await store.get(ADA);
    expect(calls).toEqual(['ddb:GetItemCommand']);
    expect(got).toStrictEqual(put);
    expect(got).toMatchObject({
      user: ADA,
      expiresAt: T0 / 1000 + 4000,
      updatedAt: T0 / 1000,
      scopes: 'User.Read Mail.Read',
    });
    expect(got!.accessToken!.keyId).toBe(keyArn);
    expect(Buffer.from(got!.accessToken!.ciphertext, 'base64')).toHaveLength(8 * 1024 + 16);
    expect(got!.accessToken!.encryptionContext).toStrictEqual({ appId: APP_ID, ...ADA, purpose: 'access_token' });
    expect(got!.refreshToken!.encryptionContext).toStrictEqual({ appId: APP_ID, ...ADA, purpose: 'refresh_token' });

    expect(await store.decryptAccessToken(got!)).toBe(accessToken);
    expect(await store.decryptRefreshToken(got!)).toBe(refreshToken);
  });

  test('the item follows docs/design.md: pk, v 2, at/rt maps {ek, iv, ct} of base64, exp, scp, upd, ttl = 90 days; no plaintext', async () => {
    const user = freshUser();
    const accessToken = jwt(3000);
    const refreshToken = `0.A${randomBytes(500).toString('base64url')}`;
    await newStore().put(user, { accessToken, refreshToken, expiresIn: 3599, scope: 'User.Read' }, NEVER);
    const item = (await rawItem(user))!;
    const nowS = T0 / 1000;
    expect(item.pk).toEqual({ S: `${user.tenantId}#${user.aadObjectId}` });
    expect(item.v).toEqual({ N: '2' });
    expect(item.exp).toEqual({ N: String(nowS + 3599) });
    expect(item.upd).toEqual({ N: String(nowS) });
    expect(item.ttl).toEqual({ N: String(nowS + DEFAULT_REFRESH_TTL_SECONDS) });
    expect(DEFAULT_REFRESH_TTL_SECONDS).toBe(90 * 86400);
    expect(item.scp).toEqual({ S: 'User.Read' });
    expect(item.kid).toEqual({ S: keyArn });
    for (const name of ['at', 'rt']) {
      expect(Object.keys(item[name].M!).sort()).toEqual(['ct', 'ek', 'iv']);
      for (const e of Object.values(item[name].M!)) expect(e.S).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
      expect(Buffer.from(item[name].M!.iv.S!, 'base64')).toHaveLength(12);
    }
    const json = JSON.stringify(item);
    expect(json).not.toContain(accessToken.slice(10, 60));
    expect(json).not.toContain(refreshToken.slice(10, 60));
  });

  test('custom refreshTtlSeconds sets ttl', async () => {
    const user = freshUser();
    await newStore({ refreshTtlSeconds: 3600 }).put(user, { accessToken: 'at', expiresIn: 60 }, NEVER);
    expect((await rawItem(user))!.ttl).toEqual({ N: String(T0 / 1000 + 3600) });
    expect(() => newStore({ refreshTtlSeconds: 0 })).toThrow(/refreshTtlSeconds/);
  });

  test('get of an unknown user: undefined, one GetItem', async () => {
    expect(await newStore().get(freshUser())).toBeUndefined();
    expect(calls).toEqual(['ddb:GetItemCommand']);
  });

  test('rotated refresh tokens: the newest wins; a response without refresh_token keeps the old one unless told to remove it', async () => {
    const store = newStore();
    const user = freshUser();
    await store.put(user, { accessToken: 'access-1', refreshToken: 'refresh-1', expiresIn: 3600 }, NEVER);
    clock += 3000_000;
    await store.put(user, { accessToken: 'access-2', refreshToken: 'refresh-2', expiresIn: 3600, scope: 'User.Read Mail.Read' }, NEVER);
    let got = (await store.get(user))!;
    expect(await store.decryptAccessToken(got)).toBe('access-2');
    expect(await store.decryptRefreshToken(got)).toBe('refresh-2');
    expect(got.updatedAt).toBe(T0 / 1000 + 3000);

    clock += 3000_000;
    const kept = await store.put(user, { accessToken: 'access-3', expiresIn: 3600 }, NEVER);
    expect(kept.scopes).toBe('User.Read Mail.Read'); // a response without scope keeps the stored scopes
    expect(await store.decryptRefreshToken(kept)).toBe('refresh-2');
    got = (await store.get(user))!;
    expect(got).toStrictEqual(kept);
    expect(await store.decryptAccessToken(got)).toBe('access-3');
    expect(got.expiresAt).toBe(T0 / 1000 + 6000 + 3600);

    const removed = await store.put(user, { accessToken: 'access-4', expiresIn: 3600 }, NEVER, { missingRefreshToken: 'remove' });
    expect(removed.refreshToken).toBeUndefined();
    expect(await store.decryptRefreshToken((await store.get(user))!)).toBeUndefined();
    expect((await rawItem(user))!.rt).toBeUndefined();
  });

  test('delete returns whether tokens existed', async () => {
    const store = newStore();
    const user = freshUser();
    expect(await store.delete(user)).toBe(false);
    expect(await rawItem(user)).toBeUndefined(); // deleting nothing writes nothing
    await store.put(user, { accessToken: 'a', refreshToken: 'r', expiresIn: 3600 }, NEVER);
    expect(await store.delete(user)).toBe(true);
    expect(await store.get(user)).toBeUndefined();
    expect(await store.delete(user)).toBe(false);
  });
});

describe('leftovers flag (lo)', () => {
  test('a failed hand-over flags, a sign-in flags, a plain put keeps the flag; clearLeftovers removes only the value it read', async () => {
    const user = freshUser();
    const tokens = { accessToken: jwt(900), refreshToken: jwt(300), expiresIn: 3600 };
    const plain = await newStore().put(user, tokens, NEVER);
    expect(plain.leftovers).toBeUndefined();
    expect(await newStore().clearLeftovers(plain)).toBe(true); // nothing to clear: no call
    // A hand-over failed on the hot path: expired and flagged.
    expect(await newStore().expireAccessToken(plain)).toBe(true);
    const flagged = await newStore().get(user);
    expect(flagged?.leftovers).toBe(1);
    // The refresh stores new tokens without touching the flag, and sees it in what it wrote.
    const refreshed = await newStore().put(user, tokens, flagged!);
    expect(refreshed.leftovers).toBe(1);
    // A message kept (and flagged) after the refresh read the pending messages: its clear must not remove that flag.
    await newStore().put(user, { accessToken: jwt(900), expiresIn: 1 }, refreshed, { flagLeftovers: true });
    expect(await newStore().clearLeftovers(refreshed)).toBe(false);
    const again = await newStore().get(user);
    expect(again?.leftovers).toBe(2);
    expect(await newStore().clearLeftovers(again!)).toBe(true);
    expect((await rawItem(user))?.lo).toBeUndefined();
    expect((await newStore().get(user))?.leftovers).toBeUndefined();
  });

  test('a sign-in\'s token write flags leftovers (a message kept while it completes is found by the first refresh)', async () => {
    const user = freshUser();
    const { update } = await newStore().prepareSignIn(user, { accessToken: jwt(900), refreshToken: jwt(300), expiresIn: 3600 }, NEVER);
    await ddb.send(new UpdateItemCommand(update()));
    expect((await newStore().get(user))?.leftovers).toBe(1);
    const second = await newStore().prepareSignIn(user, { accessToken: jwt(900), expiresIn: 3600 }, { notSignedOutSince: Math.floor(clock / 1000) });
    await ddb.send(new UpdateItemCommand(second.update()));
    expect((await newStore().get(user))?.leftovers).toBe(2);
  });
});

describe('sign-out sticks (the sign-out generation)', () => {
  test('a refresh that read the tokens before the sign-out cannot write them back; a fresh sign-in afterwards can', async () => {
    const store = newStore();
    const user = freshUser();
    await store.put(user, { accessToken: 'access-1', refreshToken: 'refresh-1', expiresIn: 60 }, NEVER);
    const readByRefresh = (await store.get(user))!; // a refresh starts: it read the row...
    expect(readByRefresh.generation).toBe(0);

    clock += 1000;
    expect(await store.signOut(user)).toBe(true); // ...the user signs out...
    // ...and the refresh finishes afterwards: nothing is written.
    await expect(store.put(user, { accessToken: 'access-2', refreshToken: 'refresh-2', expiresIn: 3600 }, readByRefresh))
      .rejects.toBeInstanceOf(SignedOutError);
    expect(await store.get(user)).toBeUndefined();
    const tombstone = (await rawItem(user))!;
    expect(Object.keys(tombstone).sort()).toEqual(['gen', 'pk', 'ttl', 'upd']); // no ciphertext left
    expect(tombstone.gen).toEqual({ N: '1' });
    expect(tombstone.ttl).toEqual({ N: String(T0 / 1000 + 1 + DEFAULT_REFRESH_TTL_SECONDS) });

    // A sign-in that starts after the sign-out reads the new generation and stores.
    const basis = await store.basis(user);
    expect(basis).toEqual({ generation: 1 });
    const stored = await store.put(user, { accessToken: 'access-3', refreshToken: 'refresh-3', expiresIn: 3600 }, basis);
    expect(stored.generation).toBe(1);
    expect(await store.decryptRefreshToken((await store.get(user))!)).toBe('refresh-3');
    // markForResume after that sign-in writes with what the sign-in stored
    await store.put(user, { accessToken: 'access-3', expiresIn: 1 }, stored);

    // A second sign-out: writes prepared under generation 1 are refused too.
    expect(await store.signOut(user)).toBe(true);
    await expect(store.put(user, { accessToken: 'late', expiresIn: 3600 }, stored)).rejects.toBeInstanceOf(SignedOutError);
    expect((await rawItem(user))!.gen).toEqual({ N: '2' });
    expect((await rawItem(user))!.at).toBeUndefined();
  });

  test('a sign-out with nothing stored still leaves a tombstone: a sign-in in progress does not complete into stored tokens', async () => {
    const store = newStore();
    const user = freshUser();
    const readBySignIn = await store.basis(user);
    expect(readBySignIn).toEqual({ generation: 0 });
    expect(await store.signOut(user)).toBe(false);
    await expect(store.put(user, { accessToken: 'a', refreshToken: 'r', expiresIn: 3600 }, readBySignIn)).rejects.toBeInstanceOf(SignedOutError);
    expect((await rawItem(user))!.at).toBeUndefined();
  });

  test('delete (invalid_grant) keeps the generation, so a writer from before an earlier sign-out stays refused', async () => {
    const store = newStore();
    const user = freshUser();
    const old = await store.put(user, { accessToken: 'a', refreshToken: 'r', expiresIn: 60 }, NEVER);
    await store.signOut(user);
    await store.put(user, { accessToken: 'b', refreshToken: 'r2', expiresIn: 60 }, await store.basis(user));
    expect(await store.delete(user)).toBe(true);
    expect((await rawItem(user))!.gen).toEqual({ N: '1' });
    await expect(store.put(user, { accessToken: 'stale', expiresIn: 3600 }, old)).rejects.toBeInstanceOf(SignedOutError);
    expect(await store.get(user)).toBeUndefined();
  });

  test('concurrent writers of the same generation do not refuse each other (refresh tokens rotate; the newest wins)', async () => {
    const store = newStore();
    const user = freshUser();
    const read = await store.put(user, { accessToken: 'a', refreshToken: 'r', expiresIn: 60 }, NEVER);
    await store.put(user, { accessToken: 'b', refreshToken: 'r-b', expiresIn: 3600 }, read);
    await store.put(user, { accessToken: 'c', refreshToken: 'r-c', expiresIn: 3600 }, read);
    expect(await store.decryptRefreshToken((await store.get(user))!)).toBe('r-c');
  });

  test('put requires a basis read from the store', async () => {
    const store = newStore();
    for (const bad of [undefined, {}, { generation: -1 }, { generation: 1.5 }, { generation: '0' }]) {
      await expect(store.put(freshUser(), { accessToken: 'a', expiresIn: 60 }, bad as never)).rejects.toThrow(/basis/);
    }
  });

  test('user ids are case-insensitive (Entra GUIDs) and validated', async () => {
    const store = newStore();
    const user = freshUser();
    const upper = { tenantId: user.tenantId.toUpperCase(), aadObjectId: user.aadObjectId.toUpperCase() };
    await store.put(upper, { accessToken: 'tok', expiresIn: 3600 }, NEVER);
    const got = (await store.get(user))!;
    expect(got.user).toEqual(user);
    expect(await store.decryptAccessToken(got)).toBe('tok');
    expect(normalizeUserKey(upper)).toEqual(user);
    for (const bad of [{ ...ADA, aadObjectId: '' }, { ...ADA, tenantId: 'a#b' }, { ...ADA, aadObjectId: 'x y' }]) {
      await expect(store.get(bad)).rejects.toThrow(TypeError);
    }
    await expect(store.put(ADA, { accessToken: '', expiresIn: 1 }, NEVER)).rejects.toThrow(/accessToken/);
    await expect(store.put(ADA, { accessToken: 'x', expiresIn: Number.NaN }, NEVER)).rejects.toThrow(/expiresIn/);
  });

  test('ciphertexts copied into another user\'s item do not decrypt (the encryption context binds them to the user)', async () => {
    const store = newStore();
    await store.put(ADA, { accessToken: 'ada-access', refreshToken: 'ada-refresh', expiresIn: 3600 }, NEVER);
    await store.put(BOB, { accessToken: 'bob-access', refreshToken: 'bob-refresh', expiresIn: 3600 }, NEVER);
    const ada = (await rawItem(ADA))!;
    // An attacker with write access to the table moves Ada's ciphertexts into Bob's item.
    await ddb.send(new UpdateItemCommand({
      TableName: TABLE,
      Key: { pk: { S: tokenKey(BOB) } },
      UpdateExpression: 'SET #at = :at, #rt = :rt',
      ExpressionAttributeNames: { '#at': 'at', '#rt': 'rt' },
      ExpressionAttributeValues: { ':at': ada.at, ':rt': ada.rt },
    }));
    const bob = (await store.get(BOB))!;
    await expect(store.decryptAccessToken(bob)).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    await expect(store.decryptRefreshToken(bob)).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    // and the refresh token cannot be passed off as an access token (the worker may only decrypt access tokens)
    const adaStored = (await store.get(ADA))!;
    const disguised = { ...(adaStored.refreshToken as EncryptedToken), encryptionContext: adaStored.accessToken!.encryptionContext };
    await expect(store.decryptAccessToken({ ...adaStored, accessToken: disguised })).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
  });

  test('an item of another schema version or shape reads as no token (logged, without the item)', async () => {
    const lines: string[] = [];
    const previous = setLogSink((line) => lines.push(line));
    try {
      const store = newStore();
      const user = freshUser();
      await ddb.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: tokenKey(user) }, v: { N: '3' }, at: { L: [{ S: 'AAAA' }] } } }));
      expect(await store.get(user)).toBeUndefined();
      await ddb.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: tokenKey(user) }, v: { N: '2' } } }));
      expect(await store.get(user)).toBeUndefined();
      await ddb.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: tokenKey(user) }, v: { N: '2' }, kid: { S: keyArn }, at: { L: [{ S: 'AAAA' }] }, exp: { N: '1' }, upd: { N: '1' } } }));
      expect(await store.get(user)).toBeUndefined();
    } finally {
      setLogSink(previous);
    }
    expect(lines.map((l) => JSON.parse(l))).toMatchObject([
      { level: 'warn', event: 'token_item_unreadable', reason: 'version' },
      { level: 'warn', event: 'token_item_unreadable', reason: 'shape' },
      { level: 'warn', event: 'token_item_unreadable', reason: 'shape' },
    ]);
    expect(lines.join('\n')).not.toContain('AAAA');
  });

  test('after a key change, a kept refresh token still names (and decrypts with) the key that encrypted it', async () => {
    const user = freshUser();
    const newKeyArn = await createKey(aws.motoEndpoint, 'rotated key');
    await newStore().put(user, { accessToken: 'access-old-key', refreshToken: 'refresh-old-key', expiresIn: 3600 }, NEVER);
    const store2 = newStore({ cipher: new TokenCipher({ kms, keyId: newKeyArn }) });
    const stored = await store2.put(user, { accessToken: 'access-new-key', expiresIn: 3600 }, NEVER);
    expect(stored.accessToken.keyId).toBe(newKeyArn);
    expect(stored.refreshToken!.keyId).toBe(keyArn);
    expect(await store2.decryptAccessToken(stored)).toBe('access-new-key');
    expect(await store2.decryptRefreshToken(stored)).toBe('refresh-old-key');
  });
});

/** A legacy item (item version 1) for `user` in this file's table, expiring in an hour; see test/support. */
async function putLegacyItem(user: { tenantId: string; aadObjectId: string }, tokens: { at: string; rt?: string },
  order: { at?: number[]; rt?: number[] } = {}): Promise<void> {
  const nowS = T0 / 1000;
  const target = { ddb, kms, tableName: TABLE, keyArn, appId: APP_ID };
  await putLegacyTokenItem(target, user, { ...tokens, expiresAt: nowS + 3600, updatedAt: nowS }, order);
  calls.length = 0;
}

describe('legacy items (item version 1: KMS ciphertexts of 4096-byte parts)', () => {
  test('a single-part refresh token is still used: no access token (never to a worker: not usable), the refresh stores version 2', async () => {
    const store = newStore();
    const user = freshUser();
    const accessToken = jwt(9000); // 3 parts
    await putLegacyItem(user, { at: accessToken, rt: 'legacy-refresh' });
    const got = (await store.get(user))!;
    expect(calls).toEqual(['ddb:GetItemCommand']);
    expect(got.accessToken).toBeUndefined();
    expect(got.expiresAt).toBe(T0 / 1000 + 3600); // not expired, and still not usable:
    expect(isUsable(got, 300, T0)).toBe(false);
    await expect(store.decryptAccessToken(got)).rejects.toThrow(/no access token/);
    expect(await store.decryptRefreshToken(got)).toBe('legacy-refresh');
    // the receiver refreshes: the new tokens are stored in the current format
    const fresh = await store.put(user, { accessToken: 'new-access', refreshToken: 'new-refresh', expiresIn: 3600 }, got);
    expect(isUsable(fresh, 300, T0)).toBe(true);
    const item = (await rawItem(user))!;
    expect(item.v).toEqual({ N: '2' });
    expect(item.at.M).toBeDefined();
    expect(item.rt.M).toBeDefined();
    expect(await store.decryptAccessToken((await store.get(user))!)).toBe('new-access');
  });

  test('a refresh without rotation keeps the legacy single-part refresh token, which still decrypts', async () => {
    const store = newStore();
    const user = freshUser();
    await putLegacyItem(user, { at: 'legacy-access', rt: 'legacy-refresh' });
    const kept = await store.put(user, { accessToken: 'new-access', expiresIn: 3600 }, (await store.get(user))!);
    expect((await rawItem(user))!.rt.L).toHaveLength(1);
    const got = (await store.get(user))!;
    expect(got).toStrictEqual(kept);
    expect(await store.decryptAccessToken(got)).toBe('new-access');
    expect(await store.decryptRefreshToken(got)).toBe('legacy-refresh');
  });

  test('a refresh token of several parts is not one unit: the item reads as absent (sign in again), reordered or not, no KMS call', async () => {
    const lines: string[] = [];
    const previous = setLogSink((line) => lines.push(line));
    const store = newStore();
    const refreshToken = `0.A${'r'.repeat(4096)}${'s'.repeat(4096)}`; // 3 parts
    try {
      for (const order of [undefined, [1, 0, 2], [0, 1]]) {
        const user = freshUser();
        await putLegacyItem(user, { at: 'legacy-access', rt: refreshToken }, { rt: order });
        // Before: the parts decrypted one by one and joined, a reordered or cut list gave another refresh token.
        expect(await store.get(user)).toBeUndefined();
        expect(calls).toEqual(['ddb:GetItemCommand']); // no KMS call
      }
      const user = freshUser();
      await putLegacyItem(user, { at: 'legacy-access' }); // no refresh token: nothing usable either
      expect(await store.get(user)).toBeUndefined();
    } finally {
      setLogSink(previous);
    }
    expect(lines.map((l) => JSON.parse(l).event)).toEqual([
      'token_legacy_refused', 'token_item_unreadable', 'token_legacy_refused', 'token_item_unreadable',
      'token_legacy_refused', 'token_item_unreadable', 'token_item_unreadable',
    ]);
    // a sign-in stores the current format over it
    const user = freshUser();
    await putLegacyItem(user, { at: 'legacy-access', rt: refreshToken });
    await store.put(user, { accessToken: 'new-access', refreshToken: 'new-refresh', expiresIn: 3600 }, await store.basis(user));
    expect(await store.decryptRefreshToken((await store.get(user))!)).toBe('new-refresh');
  });

  test('a kept legacy refresh token of several parts (a sign-in without refresh_token over a legacy item) is dropped, not joined', async () => {
    const store = newStore();
    const user = freshUser();
    await putLegacyItem(user, { at: 'legacy-access', rt: `${'r'.repeat(4096)}s` });
    await store.put(user, { accessToken: 'new-access', expiresIn: 3600 }, await store.basis(user));
    const got = (await store.get(user))!;
    expect(got.refreshToken).toBeUndefined();
    expect(await store.decryptAccessToken(got)).toBe('new-access');
  });

  test('a spliced current-format token is refused by the cipher (one unit), not decrypted into another token', async () => {
    const store = newStore();
    const user = freshUser();
    await store.put(user, { accessToken: jwt(3 * 4096), refreshToken: jwt(9000), expiresIn: 3600 }, NEVER);
    const item = (await rawItem(user))!;
    const ct = Buffer.from(item.at.M!.ct.S!, 'base64');
    const reordered = Buffer.concat([ct.subarray(4096, 8192), ct.subarray(0, 4096), ct.subarray(8192)]).toString('base64');
    await ddb.send(new UpdateItemCommand({
      TableName: TABLE,
      Key: { pk: { S: tokenKey(user) } },
      UpdateExpression: 'SET #at.#ct = :ct',
      ExpressionAttributeNames: { '#at': 'at', '#ct': 'ct' },
      ExpressionAttributeValues: { ':ct': { S: reordered } },
    }));
    await expect(store.decryptAccessToken((await store.get(user))!)).rejects.toThrow(TokenIntegrityError);
  });
});

describe('isUsable', () => {
  const stored = (expiresAt: number): StoredToken => ({
    user: ADA,
    accessToken: { keyId: 'k', encryptedKey: 'AAAA', iv: 'AAAAAAAAAAAAAAAA', ciphertext: 'AAAA', encryptionContext: {} },
    expiresAt,
    scopes: '',
    updatedAt: 0,
    generation: 0,
  });
  test('usable only while more than the skew (default 300 s) remains', () => {
    const now = 1_800_000_000;
    expect(isUsable(stored(now + 301), undefined, now)).toBe(true);
    expect(isUsable(stored(now + 300), undefined, now)).toBe(false);
    expect(isUsable(stored(now - 10), undefined, now)).toBe(false);
    expect(isUsable(stored(now + 61), 60, now)).toBe(true);
    expect(isUsable(stored(now + 60), 60, now)).toBe(false);
    expect(isUsable(stored(Number.NaN), 0, now)).toBe(false);
  });
  test('now in milliseconds is understood; default now is the clock', () => {
    const nowMs = 1_800_000_000_000;
    expect(isUsable(stored(1_800_000_400), 300, nowMs)).toBe(true);
    expect(isUsable(stored(1_800_000_200), 300, nowMs)).toBe(false);
    expect(isUsable(stored(Math.floor(Date.now() / 1000) + 3600))).toBe(true);
    expect(isUsable(stored(Math.floor(Date.now() / 1000) + 100))).toBe(false);
  });
});
