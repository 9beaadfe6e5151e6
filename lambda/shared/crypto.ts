/**
 * Token encryption with the customer-managed KMS key: envelope encryption, one unit per token whatever its size
 * (docs/design.md, "Encryption"; docs/worker-contract.md, "Decrypting the token").
 *
 * Encrypt: one KMS `GenerateDataKey` (`AES_256`) under the token's encryption context gives a fresh 256-bit data key
 * and that key encrypted by KMS; the UTF-8 bytes of the token are sealed locally with AES-256-GCM under the data key
 * (12-byte random IV, 16-byte tag), with the canonical encoding of the encryption context ({@link encryptionContextAad})
 * as additional authenticated data. The data key in clear is dropped at once.
 *
 * Decrypt: KMS `Decrypt` of the encrypted data key with the encryption context and `KeyId`, then AES-256-GCM open
 * (`ciphertext` is the GCM ciphertext followed by its 16-byte tag). One KMS call per token, whatever its size; any
 * change to the ciphertext (a cut, a splice, bytes of another token) fails the tag and is refused.
 *
 * The encryption context binds a token to the bot, the user and the token's purpose:
 * `{ appId, tenantId, aadObjectId, purpose }`. KMS refuses to decrypt the data key with any other context, and IAM
 * conditions on `kms:EncryptionContext:purpose` let the worker decrypt access tokens only.
 *
 * Legacy: tokens written before (one KMS `Encrypt` per 4096-byte part, {@link LegacyEncryptedToken}) are decrypted only
 * when they are a single part, which is one KMS ciphertext and so one unit; a multi-part legacy token is refused, since
 * nothing binds the order or count of its parts.
 *
 * No SDK client is created here: the handler passes its `KMSClient` in.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
// Handler dependencies are devDependencies (esbuild inlines them); .eslintrc does not list lambda/ yet.
// eslint-disable-next-line import/no-extraneous-dependencies
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { TOKEN_PURPOSE } from '../../src/private/shared-data';

/** The Teams user a token belongs to (Entra tenant id + object id). */
export interface UserKey {
  /** Entra tenant id (`tid`). */
  tenantId: string;
  /** Entra object id of the user (`oid`, Teams `aadObjectId`). */
  aadObjectId: string;
}

/** Which token a ciphertext holds; part of the encryption context. */
export type TokenPurpose = (typeof TOKEN_PURPOSE)[keyof typeof TOKEN_PURPOSE];

/**
 * An encrypted token (envelope encryption, one unit). Every binary field is standard base64 (RFC 4648 alphabet,
 * padded).
 */
export interface EncryptedToken {
  /** ARN of the KMS key that encrypted the data key (pass it as `KeyId` to Decrypt). */
  keyId: string;
  /** The data key as encrypted by KMS `GenerateDataKey` (the `CiphertextBlob` to pass to KMS `Decrypt`). */
  encryptedKey: string;
  /** The AES-256-GCM initialization vector: 12 random bytes. */
  iv: string;
  /** The AES-256-GCM ciphertext of the token's UTF-8 bytes followed by the 16-byte authentication tag. */
  ciphertext: string;
  /** The exact encryption context of the data key, also the GCM additional data ({@link encryptionContextAad}). */
  encryptionContext: Record<string, string>;
}

/**
 * A token as written before envelope encryption: KMS `Encrypt` ciphertexts of 4096-byte parts. Only a single part is
 * decrypted (see the module comment).
 */
export interface LegacyEncryptedToken {
  keyId: string;
  /** Base64 KMS ciphertext blobs. */
  ciphertexts: string[];
  encryptionContext: Record<string, string>;
}

/** A token that cannot be decrypted as one unit, or whose ciphertext fails authentication. Never contains plaintext. */
export class TokenIntegrityError extends Error {
  constructor(problem: string) {
    super(`encrypted token refused: ${problem}`);
    this.name = 'TokenIntegrityError';
  }
}

/** Bytes of the AES-GCM initialization vector. */
export const GCM_IV_BYTES = 12;
/** Bytes of the AES-GCM authentication tag (at the end of `ciphertext`). */
export const GCM_TAG_BYTES = 16;

/** Default upper bound on a token's size (64 KiB): far above any Entra token, well below DynamoDB's item limit. */
export const DEFAULT_MAX_TOKEN_BYTES = 65536;

/**
 * The canonical encoding of an encryption context, the AES-GCM additional authenticated data: the UTF-8 bytes of the
 * JSON object with its keys sorted by code point, no whitespace, non-ASCII characters as they are (not escaped).
 * Python: `json.dumps(ctx, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')`.
 */
export function encryptionContextAad(context: Record<string, string>): Buffer {
  const keys = Object.keys(context).sort(compareCodePoints);
  return Buffer.from(`{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(context[k])}`).join(',')}}`, 'utf8');
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * The encryption context of a user's token: `{ appId, tenantId, aadObjectId, purpose }` (all strings, exactly these
 * keys). Workers in other languages build the same map.
 */
export function tokenEncryptionContext(appId: string, user: UserKey, purpose: TokenPurpose): Record<string, string> {
  for (const [name, value] of [['appId', appId], ['tenantId', user.tenantId], ['aadObjectId', user.aadObjectId]] as const) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`tokenEncryptionContext: ${name} must be a non-empty string`);
    }
  }
  return { appId, tenantId: user.tenantId, aadObjectId: user.aadObjectId, purpose };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes a standard base64 field, or throws a TypeError naming it (no KMS call is made for a malformed token). */
function base64Field(value: unknown, name: string): Buffer {
  if (typeof value !== 'string' || value.length === 0 || !BASE64.test(value)) {
    throw new TypeError(`TokenCipher.decrypt: ${name} must be standard base64`);
  }
  return Buffer.from(value, 'base64');
}

/** Options of {@link TokenCipher}. */
export interface TokenCipherOptions {
  /** The handler's KMS client (created once per container). */
  kms: KMSClient;
  /** Key id, ARN or alias of the customer-managed key used to encrypt. */
  keyId: string;
  /** Largest plaintext accepted by `encrypt`, in UTF-8 bytes (default {@link DEFAULT_MAX_TOKEN_BYTES}). */
  maxPlaintextBytes?: number;
}

/** Encrypts and decrypts tokens of any size as one unit: a KMS data key, AES-256-GCM, the encryption context bound. */
export class TokenCipher {
  private readonly kms: KMSClient;
  private readonly keyId: string;
  private readonly maxPlaintextBytes: number;

  constructor(opts: TokenCipherOptions) {
    if (!opts.keyId) throw new TypeError('TokenCipher: keyId is required');
    this.kms = opts.kms;
    this.keyId = opts.keyId;
    this.maxPlaintextBytes = opts.maxPlaintextBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  }

  /**
   * Encrypts the UTF-8 bytes of `plaintext` under `context`: one KMS `GenerateDataKey`, then AES-256-GCM locally.
   * Throws on an empty plaintext or one above the configured maximum (without calling KMS).
   */
  async encrypt(plaintext: string, context: Record<string, string>): Promise<EncryptedToken> {
    if (typeof plaintext !== 'string' || plaintext.length === 0) {
      throw new TypeError('TokenCipher.encrypt: plaintext must be a non-empty string');
    }
    const bytes = Buffer.from(plaintext, 'utf8');
    if (bytes.length > this.maxPlaintextBytes) {
      throw new RangeError(`TokenCipher.encrypt: plaintext of ${bytes.length} bytes exceeds ${this.maxPlaintextBytes}`);
    }
    const encryptionContext = { ...context };
    const dataKey = await this.kms.send(new GenerateDataKeyCommand({
      KeyId: this.keyId,
      KeySpec: 'AES_256',
      EncryptionContext: encryptionContext,
    }));
    if (!dataKey.Plaintext || dataKey.Plaintext.length !== 32 || !dataKey.CiphertextBlob) {
      throw new Error('KMS GenerateDataKey returned no 256-bit data key');
    }
    const key = Buffer.from(dataKey.Plaintext);
    try {
      const iv = randomBytes(GCM_IV_BYTES);
      const gcm = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
      gcm.setAAD(encryptionContextAad(encryptionContext));
      const sealed = Buffer.concat([gcm.update(bytes), gcm.final(), gcm.getAuthTag()]);
      return {
        keyId: dataKey.KeyId ?? this.keyId,
        encryptedKey: Buffer.from(dataKey.CiphertextBlob).toString('base64'),
        iv: iv.toString('base64'),
        ciphertext: sealed.toString('base64'),
        encryptionContext,
      };
    } finally {
      key.fill(0);
      dataKey.Plaintext.fill(0);
    }
  }

  /**
   * Decrypts a token with its encryption context (and `KeyId`, so a data key of another key is refused): one KMS
   * `Decrypt` of the data key, then AES-256-GCM open with the context as additional data. A ciphertext that fails
   * authentication (changed, cut, spliced) is a {@link TokenIntegrityError}; KMS errors (e.g.
   * `InvalidCiphertextException` for a wrong context) propagate unchanged. Neither contains plaintext.
   * A {@link LegacyEncryptedToken} is decrypted only when it is a single part; more parts are a TokenIntegrityError.
   */
  async decrypt(token: EncryptedToken | LegacyEncryptedToken): Promise<string> {
    if (!token || typeof token !== 'object') throw new TypeError('TokenCipher.decrypt: token must be an object');
    if ('ciphertexts' in token) return this.decryptLegacy(token);
    const encryptedKey = base64Field(token.encryptedKey, 'encryptedKey');
    const iv = base64Field(token.iv, 'iv');
    const sealed = base64Field(token.ciphertext, 'ciphertext');
    if (iv.length !== GCM_IV_BYTES) throw new TypeError(`TokenCipher.decrypt: iv must be ${GCM_IV_BYTES} bytes`);
    if (sealed.length <= GCM_TAG_BYTES) throw new TypeError('TokenCipher.decrypt: ciphertext is shorter than its tag');
    const dataKey = await this.kms.send(new DecryptCommand({
      CiphertextBlob: encryptedKey,
      EncryptionContext: token.encryptionContext,
      KeyId: token.keyId || this.keyId,
    }));
    if (!dataKey.Plaintext || dataKey.Plaintext.length !== 32) throw new Error('KMS Decrypt returned no 256-bit data key');
    const key = Buffer.from(dataKey.Plaintext);
    let bytes: Buffer;
    try {
      const gcm = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
      gcm.setAAD(encryptionContextAad(token.encryptionContext));
      gcm.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
      bytes = Buffer.concat([gcm.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES)), gcm.final()]);
    } catch {
      throw new TokenIntegrityError('the ciphertext failed authentication');
    } finally {
      key.fill(0);
      dataKey.Plaintext.fill(0);
    }
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  }

  /** A legacy token of exactly one KMS ciphertext: one KMS `Decrypt`. */
  private async decryptLegacy(token: LegacyEncryptedToken): Promise<string> {
    if (!Array.isArray(token.ciphertexts) || token.ciphertexts.length !== 1) {
      throw new TokenIntegrityError('a legacy token of several parts is not one unit (nothing binds their order or count)');
    }
    const out = await this.kms.send(new DecryptCommand({
      CiphertextBlob: base64Field(token.ciphertexts[0], 'ciphertexts[0]'),
      EncryptionContext: token.encryptionContext,
      KeyId: token.keyId || this.keyId,
    }));
    if (!out.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
    return new TextDecoder('utf-8', { fatal: true }).decode(out.Plaintext);
  }
}

/**
 * True when two encrypted tokens are the same ciphertext (e.g. the refresh token read earlier and the one stored now):
 * a fresh encryption of the same plaintext differs.
 */
export function sameCiphertext(a: EncryptedToken | LegacyEncryptedToken | undefined, b: EncryptedToken | LegacyEncryptedToken | undefined): boolean {
  const id = (t: EncryptedToken | LegacyEncryptedToken | undefined): string | undefined =>
    (t === undefined ? undefined : 'ciphertexts' in t ? t.ciphertexts.join(',') : `${t.encryptedKey}.${t.ciphertext}`);
  return id(a) === id(b);
}
