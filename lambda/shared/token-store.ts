/**
 * The token table (docs/design.md, "Data model"): one item per user, partition key `pk` = `{tenantId}#{aadObjectId}`.
 *
 * | attribute | content |
 * |---|---|
 * | `v`   | item schema version, 2 (envelope encryption; 1: the legacy format, see below) |
 * | `kid` | ARN of the KMS key that encrypted `at`'s data key |
 * | `at`  | access token: map `{ek, iv, ct}` = `encryptedKey`, `iv`, `ciphertext` of an `EncryptedToken` (crypto.ts), encryption context purpose `access_token` |
 * | `rt`  | refresh token (optional): same shape, purpose `refresh_token` |
 * | `rkid`| ARN of the key that encrypted `rt` (it may be older than `at` when a refresh kept the refresh token) |
 * | `exp` | access token expiry, epoch seconds (`now + expires_in`) |
 * | `scp` | granted scopes, space separated |
 * | `upd` | last write, epoch seconds |
 * | `ttl` | `upd + refreshTtlSeconds` (default 90 days): DynamoDB deletes users who stopped talking to the bot |
 * | `gen` | sign-out generation: absent (0) until the user's first sign-out, then incremented by every sign-out |
 * | `lo`  | leftovers flag: a counter, present while messages may be waiting for a hand-over although the user has tokens |
 *
 * Leftovers: a message kept because a hand-over to the worker failed (hot path, refresh path, sign-in), or kept while a
 * sign-in completed (after its read of what was waiting), is found only by a later read of the pending messages. Every
 * write that can leave one behind increments `lo` ({@link TokenStore.expireAccessToken}, `put` with
 * `flagLeftovers`, every {@link TokenStore.prepareSignIn}); the refresh path reads it with the token (the `GetItem` it
 * makes anyway), reads the pending messages only when it is present, and removes it once it handed every one over
 * ({@link TokenStore.clearLeftovers}, conditioned on the value it read: a flag set meanwhile stays).
 *
 * Sign-out sticks: {@link TokenStore.signOut} does not delete the item, it removes the tokens and increments `gen` (a
 * tombstone that lives as long as a token item would). Every write of tokens ({@link TokenStore.put}) is conditioned
 * on the generation its writer read before it started ({@link TokenBasis}: a `StoredToken` from `get`, or
 * {@link TokenStore.basis}): a refresh, callback, SSO exchange or resume mark that read the item before a sign-out fails
 * with {@link SignedOutError} instead of writing tokens back, and a sign-in that starts after the sign-out reads the new
 * generation and stores normally. {@link TokenStore.delete} (a refresh token Entra refused) removes the tokens and keeps
 * the generation, so a deleted item never lets an older writer through.
 *
 * Reading ({@link TokenStore.get}) is one `GetItem` and never calls KMS: the hot path hands the encrypted access token
 * to the worker as it is. Writing ({@link TokenStore.put}) encrypts both tokens (one KMS `GenerateDataKey` each, in
 * parallel) and writes the item with one `UpdateItem`.
 *
 * Legacy items (`v` 1, written before envelope encryption: `at` / `rt` lists of KMS ciphertexts of 4096-byte parts)
 * are read safely: the access token never goes to a worker (the stored token has none, so it is not usable and the next
 * message refreshes); a single-part refresh token is one KMS ciphertext, one unit, and is still used for that refresh;
 * an item whose refresh token has several parts (or none) is treated as absent, so the user signs in again. A refresh
 * token of one legacy part kept by a later write (a refresh without rotation) is read the same way.
 *
 * Tenant and object ids are compared case-insensitively by Entra; they are stored in lower case (key and encryption
 * context), so `AAAA…` and `aaaa…` are the same user.
 *
 * No SDK client is created here: the handler passes its `DynamoDBClient` and {@link TokenCipher} in.
 */
/* eslint-disable import/no-extraneous-dependencies */ // handler deps are devDependencies (bundled by esbuild)
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  type Update,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
/* eslint-enable import/no-extraneous-dependencies */
import { type EncryptedToken, type LegacyEncryptedToken, type TokenCipher, type UserKey, tokenEncryptionContext } from './crypto';
import { log } from './log';
import { normalizeGuid } from '../../src/private/shared-data';

export type { UserKey } from './crypto';

/** Tokens from Entra's token endpoint (code redemption, refresh, on-behalf-of). */
export interface TokenSet {
  accessToken: string;
  /** Absent when the response had none: {@link TokenStore.put} then keeps the stored one. */
  refreshToken?: string;
  /** `expires_in`, seconds. */
  expiresIn: number;
  /** Granted scopes, space separated. */
  scope?: string;
}

/**
 * What a writer read before it started: the user's sign-out generation. {@link TokenStore.put} writes only if it is
 * still the current one. A `StoredToken` is one; {@link TokenStore.basis} reads one when there is no `StoredToken`.
 */
export interface TokenBasis {
  /** Sign-out generation of the item when it was read (0: the user never signed out, or there was no item). */
  readonly generation: number;
}

/** {@link TokenStore.put} refused to write: the user signed out after the writer read its {@link TokenBasis}. */
export class SignedOutError extends Error {
  constructor() {
    super('the user signed out after this write was prepared; nothing was stored');
    this.name = 'SignedOutError';
  }
}

/** A user's stored tokens, still encrypted. */
export interface StoredToken extends TokenBasis {
  /** The user (ids in lower case). */
  user: UserKey;
  /** Absent when the stored one is of the legacy format: it never goes to a worker (see the module comment). */
  accessToken?: EncryptedToken;
  /** A legacy one only when it is a single part (one unit). */
  refreshToken?: EncryptedToken | LegacyEncryptedToken;
  /** Access token expiry, epoch seconds. */
  expiresAt: number;
  /** Granted scopes, space separated (may be empty). */
  scopes: string;
  /** Last write, epoch seconds. */
  updatedAt: number;
  /** The leftovers flag (`lo`) as read: present when pending messages may be waiting for a hand-over. */
  leftovers?: number;
}

/** Options of {@link TokenStore.put}. */
export interface PutTokenOptions {
  /**
   * When `tokens.refreshToken` is absent: `'keep'` (default) leaves the stored refresh token in place (a refresh
   * response without `refresh_token` means the old one is still valid); `'remove'` deletes it.
   */
  missingRefreshToken?: 'keep' | 'remove';
  /**
   * Also flag leftovers (increment `lo`): the caller leaves pending messages behind (a failed hand-over), so the next
   * refresh reads and resumes them. Default false (`lo` is left as it is).
   */
  flagLeftovers?: boolean;
}

/** Options of {@link TokenStore}. */
export interface TokenStoreOptions {
  ddb: DynamoDBClient;
  cipher: TokenCipher;
  tableName: string;
  /** The bot's app id (part of the encryption context). */
  appId: string;
  /** Seconds after the last write until DynamoDB's TTL deletes the item (default 90 days, Entra's refresh token lifetime). */
  refreshTtlSeconds?: number;
  /** Clock in epoch **milliseconds** (default `Date.now`). */
  now?: () => number;
}

/** A stored token whose access token can go to a worker: what {@link TokenStore.put} returns, or {@link isUsable} passed. */
export type UsableToken = StoredToken & { accessToken: EncryptedToken };

/** Item schema version written by this module (1: the legacy format, still read). */
export const TOKEN_ITEM_VERSION = 2;
/** Item schema version of the legacy format (KMS ciphertexts of 4096-byte parts). */
export const LEGACY_TOKEN_ITEM_VERSION = 1;
/** Default refresh-token horizon: 90 days. */
export const DEFAULT_REFRESH_TTL_SECONDS = 90 * 24 * 3600;
/** Default skew of {@link isUsable}: 5 minutes. */
export const DEFAULT_EXPIRY_SKEW_SECONDS = 300;

const MAX_ID_LENGTH = 256;

/**
 * Validates and normalizes a user key: both ids non-empty, at most 256 characters, without `#` (the key separator),
 * whitespace or control characters; GUIDs returned in their one spelling, lower case (`normalizeGuid`). Throws a
 * `TypeError` naming the field otherwise.
 */
export function normalizeUserKey(user: UserKey): UserKey {
  const check = (name: string, value: unknown): string => {
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH || /[#\s\p{Cc}]/u.test(value)) {
      throw new TypeError(`user.${name} must be a non-empty id without '#', whitespace or control characters`);
    }
    return normalizeGuid(value);
  };
  if (!user || typeof user !== 'object') throw new TypeError('user must be an object');
  return { tenantId: check('tenantId', user.tenantId), aadObjectId: check('aadObjectId', user.aadObjectId) };
}

/** Token table partition key of a user: `{tenantId}#{aadObjectId}` (lower case). */
export function tokenKey(user: UserKey): string {
  const u = normalizeUserKey(user);
  return `${u.tenantId}#${u.aadObjectId}`;
}

/**
 * True if there is an access token (not a legacy one) and it is still valid `skewSeconds` (default 300) from now. `now` is epoch **seconds** (default:
 * the current time); a value above 10^11 is taken as milliseconds, so passing `Date.now()` also works.
 */
export function isUsable(stored: StoredToken, skewSeconds: number = DEFAULT_EXPIRY_SKEW_SECONDS, now?: number): stored is UsableToken {
  let nowSeconds = now ?? Date.now() / 1000;
  if (nowSeconds > 1e11) nowSeconds = nowSeconds / 1000;
  return stored.accessToken !== undefined && Number.isFinite(stored.expiresAt) && stored.expiresAt - skewSeconds > nowSeconds;
}

/** Reads, writes and deletes users' encrypted tokens. */
export class TokenStore {
  private readonly ddb: DynamoDBClient;
  private readonly cipher: TokenCipher;
  private readonly tableName: string;
  private readonly appId: string;
  private readonly refreshTtlSeconds: number;
  private readonly now: () => number;

  constructor(opts: TokenStoreOptions) {
    if (!opts.tableName) throw new TypeError('TokenStore: tableName is required');
    if (!opts.appId) throw new TypeError('TokenStore: appId is required');
    const ttl = opts.refreshTtlSeconds ?? DEFAULT_REFRESH_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl <= 0) throw new TypeError('TokenStore: refreshTtlSeconds must be a positive integer');
    this.ddb = opts.ddb;
    this.cipher = opts.cipher;
    this.tableName = opts.tableName;
    this.appId = opts.appId;
    this.refreshTtlSeconds = ttl;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The user's stored tokens, or `undefined` if there are none (or the item is not one this version understands).
   * Exactly one strongly consistent `GetItem`; no KMS call.
   */
  async get(user: UserKey): Promise<StoredToken | undefined> {
    const u = normalizeUserKey(user);
    const out = await this.ddb.send(new GetItemCommand({
      TableName: this.tableName,
      Key: { pk: { S: `${u.tenantId}#${u.aadObjectId}` } },
      ConsistentRead: true,
    }));
    return out.Item ? this.fromItem(u, out.Item) : undefined;
  }

  /**
   * The user's sign-out generation, for a writer that has no `StoredToken` (a sign-in): one strongly consistent
   * `GetItem` of `gen` only. Read it before the work whose result is stored (e.g. before redeeming the code).
   */
  async basis(user: UserKey): Promise<TokenBasis> {
    const out = await this.ddb.send(new GetItemCommand({
      TableName: this.tableName,
      Key: { pk: { S: tokenKey(user) } },
      ConsistentRead: true,
      ProjectionExpression: '#gen',
      ExpressionAttributeNames: { '#gen': 'gen' },
    }));
    return { generation: generationOf(out.Item) };
  }

  /**
   * Encrypts and stores the user's tokens: `exp = now + expiresIn`, `scp` (kept when `scope` is absent), `upd = now`,
   * `ttl = now + refreshTtlSeconds`, if the user has not signed out since `basis` was read (else {@link SignedOutError},
   * nothing written).
   * A new refresh token replaces the stored one (refresh tokens rotate: the newest wins); without one, the stored
   * refresh token is kept (or removed with `missingRefreshToken: 'remove'`). Returns what is stored now.
   */
  async put(user: UserKey, tokens: TokenSet, basis: TokenBasis, opts: PutTokenOptions = {}): Promise<UsableToken> {
    checkBasis(basis);
    const { u, update } = await this.prepareUpdate(user, tokens, basis, opts);
    const out = await this.ddb.send(new UpdateItemCommand({ ...update, ReturnValues: 'ALL_NEW' })).catch((err: unknown) => {
      throw isConditionFailure(err) ? new SignedOutError() : err;
    });
    const stored = out.Attributes ? this.fromItem(u, out.Attributes) : undefined;
    if (!stored?.accessToken) throw new Error('TokenStore.put: the written item could not be read back');
    return stored as UsableToken;
  }

  /**
   * A sign-in's token write, for the caller's `TransactWriteItems` (a sign-in stores the tokens, marks its state used
   * and releases the waiting messages in one transaction): encrypts the tokens now (KMS) and returns the encrypted
   * access token as it will be stored (for worker events) and a builder of the transaction's `Update` item.
   * `expiresAt` overrides the access token's expiry (epoch seconds): a sign-in that could not hand over every waiting
   * message stores it as about to expire, so the next message refreshes and resumes them first. With a `TokenBasis`
   * the write carries the sign-out generation condition of {@link put}; with `notSignedOutSince` (epoch seconds the
   * sign-in's prompt was issued: no read needed) it fails on a sign-out since then. Either way the generation is kept
   * (writers prepared before a sign-out still fail), and the transaction fails with a condition on this item.
   * The write flags leftovers (`lo`): a message kept while the sign-in completes (after its read of what is waiting) is
   * then resumed by the user's first refresh.
   */
  async prepareSignIn(user: UserKey, tokens: TokenSet, basis: TokenBasis | { notSignedOutSince: number }):
  Promise<{ stored: UsableToken; update: (expiresAt?: number) => Update }> {
    if ('generation' in basis) checkBasis(basis);
    // Flagged: a message kept after this sign-in's read of what is waiting is found by the first refresh.
    const prepared = await this.prepareUpdate(user, tokens, 'generation' in basis ? basis : undefined, { flagLeftovers: true });
    const { u, values, at } = prepared;
    let update = prepared.update;
    if (!('generation' in basis)) {
      // A sign-in whose prompt was issued at `notSignedOutSince`: refused only by a sign-out at or after that second
      // (a tombstone: no tokens, a generation, written then); tokens stored meanwhile or an older sign-out do not count.
      update = {
        ...update,
        ConditionExpression: 'attribute_not_exists(#gen) OR attribute_exists(#at) OR #upd < :since',
        ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#gen': 'gen' },
        ExpressionAttributeValues: { ...values, ':since': { N: String(Math.floor(basis.notSignedOutSince)) } },
      };
    }
    const stored: UsableToken = {
      user: u,
      accessToken: at,
      expiresAt: Number(values[':exp'].N),
      scopes: values[':scp'].S ?? '',
      updatedAt: Number(values[':upd'].N),
      generation: 'generation' in basis ? basis.generation : 0,
    };
    return {
      stored,
      update: (expiresAt) => (expiresAt === undefined ? update
        : { ...update, ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ':exp': { N: String(Math.floor(expiresAt)) } } }),
    };
  }

  /** Validates and encrypts `tokens` (KMS) and builds the `UpdateItem` input that stores them (see {@link put}). */
  private async prepareUpdate(user: UserKey, tokens: TokenSet, basis: TokenBasis | undefined, opts: PutTokenOptions):
  Promise<{ u: UserKey; update: Update; values: Record<string, AttributeValue>; at: EncryptedToken }> {
    const u = normalizeUserKey(user);
    if (!tokens || typeof tokens.accessToken !== 'string' || tokens.accessToken.length === 0) {
      throw new TypeError('TokenStore.put: tokens.accessToken must be a non-empty string');
    }
    if (typeof tokens.expiresIn !== 'number' || !Number.isFinite(tokens.expiresIn) || tokens.expiresIn <= 0) {
      throw new TypeError('TokenStore.put: tokens.expiresIn must be a positive number of seconds');
    }
    if (tokens.refreshToken !== undefined && (typeof tokens.refreshToken !== 'string' || tokens.refreshToken.length === 0)) {
      throw new TypeError('TokenStore.put: tokens.refreshToken must be a non-empty string when present');
    }
    const nowS = Math.floor(this.now() / 1000);
    const [at, rt] = await Promise.all([
      this.cipher.encrypt(tokens.accessToken, tokenEncryptionContext(this.appId, u, 'access_token')),
      tokens.refreshToken !== undefined
        ? this.cipher.encrypt(tokens.refreshToken, tokenEncryptionContext(this.appId, u, 'refresh_token'))
        : Promise.resolve(undefined),
    ]);
    const names: Record<string, string> = {
      ...(basis ? { '#gen': 'gen' } : {}), '#v': 'v', '#kid': 'kid', '#at': 'at', '#exp': 'exp', '#scp': 'scp', '#upd': 'upd', '#ttl': 'ttl',
    };
    const values: Record<string, AttributeValue> = {
      ':v': { N: String(TOKEN_ITEM_VERSION) },
      ':kid': { S: at.keyId },
      ':at': tokenAttribute(at),
      ':exp': { N: String(nowS + Math.floor(tokens.expiresIn)) },
      ':scp': { S: tokens.scope ?? '' },
      ':upd': { N: String(nowS) },
      ':ttl': { N: String(nowS + this.refreshTtlSeconds) },
    };
    if (basis && basis.generation > 0) values[':gen'] = { N: String(basis.generation) };
    // Without a `scope` in the response the stored scopes stay (empty for a new item).
    const scp = tokens.scope !== undefined ? ':scp' : 'if_not_exists(#scp, :scp)';
    let expr = `SET #v = :v, #kid = :kid, #at = :at, #exp = :exp, #scp = ${scp}, #upd = :upd, #ttl = :ttl`;
    if (rt) {
      names['#rt'] = 'rt';
      names['#rkid'] = 'rkid';
      values[':rt'] = tokenAttribute(rt);
      values[':rkid'] = { S: rt.keyId };
      expr += ', #rt = :rt, #rkid = :rkid';
    } else if (opts.missingRefreshToken === 'remove') {
      names['#rt'] = 'rt';
      names['#rkid'] = 'rkid';
      expr += ' REMOVE #rt, #rkid';
    }
    if (opts.flagLeftovers) {
      names['#lo'] = 'lo';
      values[':one'] = { N: '1' };
      expr += ' ADD #lo :one';
    }
    const update: Update = {
      TableName: this.tableName,
      Key: { pk: { S: `${u.tenantId}#${u.aadObjectId}` } },
      UpdateExpression: expr,
      // The sign-out generation must still be the one the writer read: a sign-out in between wins.
      ...(basis ? { ConditionExpression: basis.generation > 0 ? '#gen = :gen' : 'attribute_not_exists(#gen)' } : {}),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    };
    return { u, update, values, at };
  }

  /** Decrypts the stored refresh token (KMS, purpose `refresh_token`), or `undefined` if none is stored. */
  async decryptRefreshToken(stored: StoredToken): Promise<string | undefined> {
    return stored.refreshToken ? this.cipher.decrypt(stored.refreshToken) : undefined;
  }

  /** Decrypts the stored access token (KMS, purpose `access_token`); a TypeError when there is none (a legacy item). */
  async decryptAccessToken(stored: StoredToken): Promise<string> {
    if (!stored.accessToken) throw new TypeError('TokenStore.decryptAccessToken: no access token of the current format is stored');
    return this.cipher.decrypt(stored.accessToken);
  }

  /**
   * Signs the user out: removes the tokens and increments the sign-out generation in one `UpdateItem` (the item stays
   * as a tombstone until its TTL, `now + refreshTtlSeconds`), so no write prepared before it can store tokens again.
   * Writes the tombstone even when nothing was stored (a sign-in in progress must not complete into a signed-in user).
   * True if there were tokens.
   */
  async signOut(user: UserKey): Promise<boolean> {
    const nowS = Math.floor(this.now() / 1000);
    const out = await this.ddb.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: { pk: { S: tokenKey(user) } },
      UpdateExpression: `SET #gen = if_not_exists(#gen, :zero) + :one, #upd = :upd, #ttl = :ttl REMOVE ${TOKEN_ATTRIBUTES}`,
      ExpressionAttributeNames: { ...TOKEN_ATTRIBUTE_NAMES, '#gen': 'gen', '#upd': 'upd', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':zero': { N: '0' }, ':one': { N: '1' }, ':upd': { N: String(nowS) }, ':ttl': { N: String(nowS + this.refreshTtlSeconds) },
      },
      ReturnValues: 'ALL_OLD',
    }));
    return out.Attributes?.at !== undefined;
  }

  /**
   * Marks the stored access token as expiring now (`exp = now + 1`; ciphertexts, refresh token and scopes stay) and
   * flags leftovers (`lo`), so the user's next message takes the refresh path, which hands the leftover messages to the
   * worker before itself. One `UpdateItem`, no KMS call, conditioned on the sign-out generation of `stored` and on a
   * stored access token; false when that condition failed (signed out or deleted meanwhile: nothing written).
   */
  async expireAccessToken(stored: StoredToken): Promise<boolean> {
    const nowS = Math.floor(this.now() / 1000);
    const values: Record<string, AttributeValue> = { ':exp': { N: String(nowS + 1) }, ':one': { N: '1' } };
    if (stored.generation > 0) values[':gen'] = { N: String(stored.generation) };
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: tokenKey(stored.user) } },
        UpdateExpression: 'SET #exp = :exp ADD #lo :one',
        ConditionExpression: `attribute_exists(#at) AND ${stored.generation > 0 ? '#gen = :gen' : 'attribute_not_exists(#gen)'}`,
        ExpressionAttributeNames: { '#exp': 'exp', '#at': 'at', '#gen': 'gen', '#lo': 'lo' },
        ExpressionAttributeValues: values,
      }));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Removes the leftovers flag after every leftover message was handed over: one `UpdateItem`, conditioned on the flag
   * still having the value `stored` holds (as read or written by the caller before it read the pending messages), so a
   * flag set since (a message kept after that read) stays. No-op without a flag; false when the condition failed.
   */
  async clearLeftovers(stored: StoredToken): Promise<boolean> {
    if (stored.leftovers === undefined) return true;
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: tokenKey(stored.user) } },
        UpdateExpression: 'REMOVE #lo',
        ConditionExpression: '#lo = :lo',
        ExpressionAttributeNames: { '#lo': 'lo' },
        ExpressionAttributeValues: { ':lo': { N: String(stored.leftovers) } },
      }));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Deletes the user's tokens after Entra refused the refresh token (`invalid_grant`); true if there were any. The
   * sign-out generation stays (a write prepared before an earlier sign-out must not pass because the item vanished),
   * so this is an `UpdateItem` that removes the token attributes, not a `DeleteItem`.
   */
  async delete(user: UserKey): Promise<boolean> {
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: tokenKey(user) } },
        UpdateExpression: `REMOVE ${TOKEN_ATTRIBUTES}`,
        ConditionExpression: 'attribute_exists(#at)',
        ExpressionAttributeNames: TOKEN_ATTRIBUTE_NAMES,
      }));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  private fromItem(u: UserKey, item: Record<string, AttributeValue>): StoredToken | undefined {
    if (item.v === undefined && item.at === undefined) return undefined; // signed out (a tombstone) or deleted
    const version = item.v?.N;
    if (version !== String(TOKEN_ITEM_VERSION) && version !== String(LEGACY_TOKEN_ITEM_VERSION)) {
      log.warn('token_item_unreadable', { reason: 'version', version: version ?? null });
      return undefined;
    }
    const keyId = item.kid?.S;
    const expiresAt = Number(item.exp?.N);
    const updatedAt = Number(item.upd?.N);
    const atContext = tokenEncryptionContext(this.appId, u, 'access_token');
    const at = version === String(TOKEN_ITEM_VERSION) && keyId ? envelopeOf(item.at, keyId, atContext) : undefined;
    if (!keyId || (version === String(TOKEN_ITEM_VERSION) && !at) || !Number.isFinite(expiresAt) || !Number.isFinite(updatedAt)) {
      log.warn('token_item_unreadable', { reason: 'shape' });
      return undefined;
    }
    const rtKeyId = item.rkid?.S || keyId;
    const rtContext = tokenEncryptionContext(this.appId, u, 'refresh_token');
    const rt = envelopeOf(item.rt, rtKeyId, rtContext) ?? legacyOf(item.rt, rtKeyId, rtContext);
    if (!at && !rt) {
      // A legacy item without a refresh token of one part: nothing can be used safely; the user signs in again.
      log.warn('token_item_unreadable', { reason: 'legacy' });
      return undefined;
    }
    const stored: StoredToken = {
      user: u,
      ...(at ? { accessToken: at } : {}),
      expiresAt,
      scopes: item.scp?.S ?? '',
      updatedAt,
      generation: generationOf(item),
    };
    const lo = Number(item.lo?.N);
    if (Number.isSafeInteger(lo)) stored.leftovers = lo;
    if (rt) stored.refreshToken = rt;
    return stored;
  }
}

/** The token attributes that a sign-out or a delete removes (all but `pk`, `gen`, `upd`, `ttl`). */
const TOKEN_ATTRIBUTE_NAMES: Record<string, string> = {
  '#v': 'v', '#kid': 'kid', '#at': 'at', '#rt': 'rt', '#rkid': 'rkid', '#exp': 'exp', '#scp': 'scp',
};
const TOKEN_ATTRIBUTES = Object.keys(TOKEN_ATTRIBUTE_NAMES).join(', ');

function checkBasis(basis: TokenBasis): void {
  if (!basis || !Number.isSafeInteger(basis.generation) || basis.generation < 0) {
    throw new TypeError('TokenStore.put: basis.generation must be a non-negative integer (read with get or basis)');
  }
}

function generationOf(item: Record<string, AttributeValue> | undefined): number {
  const gen = Number(item?.gen?.N ?? 0);
  return Number.isSafeInteger(gen) && gen >= 0 ? gen : 0;
}

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException';
}

/** The item attribute of an encrypted token: a map `{ek, iv, ct}` (key id and context are stored or derived apart). */
function tokenAttribute(t: EncryptedToken): AttributeValue {
  return { M: { ek: { S: t.encryptedKey }, iv: { S: t.iv }, ct: { S: t.ciphertext } } };
}

/** The encrypted token of a `{ek, iv, ct}` attribute, or undefined when it is not one. */
function envelopeOf(v: AttributeValue | undefined, keyId: string, encryptionContext: Record<string, string>): EncryptedToken | undefined {
  const m = v?.M;
  const [encryptedKey, iv, ciphertext] = [m?.ek?.S, m?.iv?.S, m?.ct?.S];
  if (!encryptedKey || !iv || !ciphertext) return undefined;
  return { keyId, encryptedKey, iv, ciphertext, encryptionContext };
}

/**
 * A legacy token attribute (a list of KMS ciphertexts) of exactly one part, or undefined: several parts are not one
 * unit (nothing binds their order or count), so they are never decrypted.
 */
function legacyOf(v: AttributeValue | undefined, keyId: string, encryptionContext: Record<string, string>): LegacyEncryptedToken | undefined {
  if (!v?.L) return undefined;
  if (v.L.length !== 1 || typeof v.L[0].S !== 'string' || v.L[0].S.length === 0) {
    log.warn('token_legacy_refused', { parts: v.L.length });
    return undefined;
  }
  return { keyId, ciphertexts: [v.L[0].S], encryptionContext };
}
