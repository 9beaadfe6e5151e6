/**
 * Self-authenticating sign-in state and SSO exchange ids: a sign-in link proves itself before the receiver does any I/O.
 *
 * A `state` is base64url of (115 characters):
 *
 * | bytes | content |
 * |---|---|
 * | 1 | version, 1 |
 * | 1 | flags: bit 0 = the prompt was posted in a personal (1:1) conversation |
 * | 4 | expiry, epoch seconds, big-endian |
 * | 16 | random id (the single-use marker's key) |
 * | 16 | tenant id (GUID bytes) |
 * | 16 | user's Entra object id (GUID bytes) |
 * | 32 | HMAC-SHA256 over all the bytes above |
 *
 * The MAC key is derived from the bot's client secret (shared/bot-secret.ts, cached per container) with HKDF-SHA256,
 * salt = the bot's app id and a label per use; the raw secret is never a key. With other labels the same derivation
 * gives the PKCE code verifier and the OIDC nonce of a state: they are computed on the server from the state and the
 * secret, never stored and never sent (the browser sees only the S256 challenge). A state whose expiry passed is
 * refused without touching the key; one whose MAC does not verify is refused without any I/O.
 *
 * An SSO exchange id (the OAuthCard's `tokenExchangeResource.id`) is `{16 random bytes}{16-byte MAC}` in base64url,
 * the MAC over the random part and the user the card was posted for: a `signin/tokenExchange` from another member of
 * a group chat does not verify.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UserKey } from '../shared/token-store';

const VERSION = 1;
const HEADER_BYTES = 1 + 1 + 4 + 16 + 16 + 16;
const MAC_BYTES = 32;
const STATE_BYTES = HEADER_BYTES + MAC_BYTES;
/** Length of a state in characters (base64url of {@link STATE_BYTES} bytes). */
export const STATE_LENGTH = Math.ceil((STATE_BYTES * 4) / 3);
const EXCHANGE_RANDOM_BYTES = 16;
const EXCHANGE_MAC_BYTES = 16;
const FLAG_PERSONAL = 1;

/** What a verified state says. */
export interface VerifiedState {
  /** The random id, base64url (22 characters): key of the single-use marker. */
  readonly id: string;
  /** The user the prompt was posted for (ids in lower case). */
  readonly user: UserKey;
  /** True if the prompt was posted in a personal conversation (the page's link goes back to the bot's chat). */
  readonly personal: boolean;
  /** Epoch seconds after which the state is refused. */
  readonly expiresAt: number;
  /** The PKCE code verifier of this state (derived, never stored). */
  readonly codeVerifier: string;
  /** The nonce expected in the id_token (derived, never stored). */
  readonly nonce: string;
}

/** Why a state was refused (no I/O was done for any of these). */
export type StateRefusal = 'malformed' | 'expired' | 'forged';

interface Keys {
  readonly mac: Buffer;
  readonly verifier: Buffer;
  readonly nonce: Buffer;
  readonly exchange: Buffer;
}

function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new TypeError('a user id must be a GUID');
  return Buffer.from(hex, 'hex');
}

function guidOf(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Issues and verifies sign-in states and SSO exchange ids. One per container: the derived keys are cached for the
 * secret they came from (a rotated secret derives new keys; states issued under the old one then fail as forged, and
 * the user's next message gets a new card).
 */
export class SignInStates {
  private cached?: { secret: string; keys: Keys };

  /**
   * @param secret the bot's client secret (the cached reader of shared/bot-secret.ts)
   * @param appId the bot's app id: the HKDF salt, so two bots never share keys
   */
  constructor(private readonly secret: () => Promise<string>, private readonly appId: string) {}

  private async keys(): Promise<Keys> {
    const secret = await this.secret();
    if (this.cached?.secret === secret) return this.cached.keys;
    const derive = (label: string): Buffer => Buffer.from(hkdfSync('sha256', secret, this.appId, `teams-delegated-auth-bot ${label} v1`, 32));
    const keys = { mac: derive('sign-in state mac'), verifier: derive('pkce verifier'), nonce: derive('oidc nonce'), exchange: derive('sso exchange id') };
    this.cached = { secret, keys };
    return keys;
  }

  /** A new state for `user`, valid until `expiresAt` (epoch seconds), with its derived verifier and nonce. */
  async issue(user: UserKey, opts: { personal: boolean; expiresAt: number }): Promise<VerifiedState & { state: string }> {
    const keys = await this.keys();
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = VERSION;
    header[1] = opts.personal ? FLAG_PERSONAL : 0;
    header.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.floor(opts.expiresAt))), 2);
    randomBytes(16).copy(header, 6);
    guidBytes(user.tenantId).copy(header, 22);
    guidBytes(user.aadObjectId).copy(header, 38);
    const mac = createHmac('sha256', keys.mac).update(header).digest();
    const state = Buffer.concat([header, mac]).toString('base64url');
    return { state, ...this.claimsOf(header, keys) };
  }

  /**
   * Verifies a state: syntax and expiry first (no key needed), then the MAC. Returns what it says, or why it was
   * refused. No I/O beyond the cached secret.
   */
  async verify(state: string, nowSeconds: number): Promise<VerifiedState | { refused: StateRefusal }> {
    if (typeof state !== 'string' || state.length !== STATE_LENGTH || !/^[A-Za-z0-9_-]+$/.test(state)) return { refused: 'malformed' };
    const raw = Buffer.from(state, 'base64url');
    if (raw.length !== STATE_BYTES || raw[0] !== VERSION || (raw[1] !== 0 && raw[1] !== FLAG_PERSONAL)) return { refused: 'malformed' };
    if (raw.readUInt32BE(2) <= nowSeconds) return { refused: 'expired' };
    const keys = await this.keys();
    const header = raw.subarray(0, HEADER_BYTES);
    const expected = createHmac('sha256', keys.mac).update(header).digest();
    if (!timingSafeEqual(expected, raw.subarray(HEADER_BYTES))) return { refused: 'forged' };
    return this.claimsOf(header, keys);
  }

  private claimsOf(header: Buffer, keys: Keys): VerifiedState {
    const id = header.subarray(6, 22);
    return {
      id: id.toString('base64url'),
      user: { tenantId: guidOf(header.subarray(22, 38)), aadObjectId: guidOf(header.subarray(38, 54)) },
      personal: header[1] === FLAG_PERSONAL,
      expiresAt: header.readUInt32BE(2),
      // 32 bytes → 43 base64url characters: a valid PKCE verifier (RFC 7636: 43–128 unreserved characters).
      codeVerifier: createHmac('sha256', keys.verifier).update(header).digest('base64url'),
      nonce: createHmac('sha256', keys.nonce).update(header).digest('base64url'),
    };
  }

  /** A new `tokenExchangeResource.id` bound to `user`. */
  async exchangeId(user: UserKey): Promise<string> {
    const random = randomBytes(EXCHANGE_RANDOM_BYTES);
    return Buffer.concat([random, await this.exchangeMac(random, user)]).toString('base64url');
  }

  /** True if `id` is an exchange id issued for `user`. No I/O beyond the cached secret. */
  async isExchangeIdOf(id: string, user: UserKey): Promise<boolean> {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(id)) return false;
    const raw = Buffer.from(id, 'base64url');
    if (raw.length !== EXCHANGE_RANDOM_BYTES + EXCHANGE_MAC_BYTES) return false;
    const expected = await this.exchangeMac(raw.subarray(0, EXCHANGE_RANDOM_BYTES), user);
    return timingSafeEqual(expected, raw.subarray(EXCHANGE_RANDOM_BYTES));
  }

  private async exchangeMac(random: Buffer, user: UserKey): Promise<Buffer> {
    const keys = await this.keys();
    const data = Buffer.concat([random, guidBytes(user.tenantId), guidBytes(user.aadObjectId)]);
    return createHmac('sha256', keys.exchange).update(data).digest().subarray(0, EXCHANGE_MAC_BYTES);
  }
}
