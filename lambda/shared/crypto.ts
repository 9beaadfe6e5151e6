/**
 * Token encryption with the customer-managed KMS key, language-neutral by design (docs/design.md, "Encryption"):
 * the UTF-8 bytes of a token are cut into parts of at most 4096 bytes (KMS Encrypt's plaintext limit), each part is
 * encrypted with KMS `Encrypt` directly under the same encryption context, and the ciphertext blobs are kept in
 * order, base64-encoded. Decrypting is KMS `Decrypt` of every part with that context, concatenating the plaintext
 * bytes in order, then UTF-8 decoding: any AWS SDK can do it, no AES library or envelope format is involved.
 *
 * The encryption context binds a ciphertext to the bot, the user and the token's purpose:
 * `{ appId, tenantId, aadObjectId, purpose }`. KMS refuses to decrypt with any other context, and IAM conditions on
 * `kms:EncryptionContext:purpose` let the worker decrypt access tokens only.
 *
 * No SDK client is created here: the handler passes its `KMSClient` in.
 */
// Handler dependencies are devDependencies (esbuild inlines them); .eslintrc does not list lambda/ yet.
// eslint-disable-next-line import/no-extraneous-dependencies
import { DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
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

/** An encrypted token: ordered base64 KMS ciphertext blobs plus what is needed to decrypt them. */
export interface EncryptedToken {
  /** ARN of the KMS key that encrypted the parts (pass it as `KeyId` to Decrypt). */
  keyId: string;
  /** Base64 (standard alphabet, padded) KMS ciphertext blobs, in plaintext order. */
  ciphertexts: string[];
  /** The exact encryption context every part was encrypted with. */
  encryptionContext: Record<string, string>;
}

/** Largest plaintext KMS `Encrypt` accepts, in bytes; the size of every part but the last. */
export const KMS_MAX_PLAINTEXT_BYTES = 4096;

/** Default upper bound on a token's size (64 KiB = 16 parts): far above any Entra token, well below DynamoDB's item limit. */
export const DEFAULT_MAX_TOKEN_BYTES = 65536;

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

/** Cuts bytes into consecutive slices of at most `partBytes` (a multi-byte character may span two parts). */
export function splitBytes(bytes: Uint8Array, partBytes: number = KMS_MAX_PLAINTEXT_BYTES): Uint8Array[] {
  if (!Number.isInteger(partBytes) || partBytes < 1 || partBytes > KMS_MAX_PLAINTEXT_BYTES) {
    throw new RangeError(`partBytes must be an integer in 1..${KMS_MAX_PLAINTEXT_BYTES}`);
  }
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += partBytes) {
    parts.push(bytes.subarray(offset, Math.min(offset + partBytes, bytes.length)));
  }
  return parts;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Options of {@link TokenCipher}. */
export interface TokenCipherOptions {
  /** The handler's KMS client (created once per container). */
  kms: KMSClient;
  /** Key id, ARN or alias of the customer-managed key used to encrypt. */
  keyId: string;
  /** Largest plaintext accepted by `encrypt`, in UTF-8 bytes (default {@link DEFAULT_MAX_TOKEN_BYTES}). */
  maxPlaintextBytes?: number;
}

/** Encrypts and decrypts tokens of any size with KMS, part by part, under an encryption context. */
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
   * Encrypts the UTF-8 bytes of `plaintext` in 4096-byte parts, all parts in parallel, each with `context`.
   * Throws on an empty plaintext (KMS cannot encrypt zero bytes) or one above the configured maximum.
   */
  async encrypt(plaintext: string, context: Record<string, string>): Promise<EncryptedToken> {
    if (typeof plaintext !== 'string' || plaintext.length === 0) {
      throw new TypeError('TokenCipher.encrypt: plaintext must be a non-empty string');
    }
    const bytes = new TextEncoder().encode(plaintext);
    if (bytes.length > this.maxPlaintextBytes) {
      throw new RangeError(`TokenCipher.encrypt: plaintext of ${bytes.length} bytes exceeds ${this.maxPlaintextBytes}`);
    }
    const encryptionContext = { ...context };
    const results = await Promise.all(splitBytes(bytes).map((part) => this.kms.send(new EncryptCommand({
      KeyId: this.keyId,
      Plaintext: part,
      EncryptionContext: encryptionContext,
    }))));
    const ciphertexts = results.map((r, i) => {
      if (!r.CiphertextBlob) throw new Error(`KMS Encrypt returned no ciphertext for part ${i}`);
      return Buffer.from(r.CiphertextBlob).toString('base64');
    });
    return { keyId: results[0]?.KeyId ?? this.keyId, ciphertexts, encryptionContext };
  }

  /**
   * Decrypts every part with the token's encryption context (and `KeyId`, so a ciphertext of another key is
   * refused), in parallel, and returns the concatenated plaintext. KMS errors (e.g. `InvalidCiphertextException`
   * for a wrong context) propagate unchanged; they never contain plaintext.
   */
  async decrypt(token: EncryptedToken): Promise<string> {
    if (!token || !Array.isArray(token.ciphertexts) || token.ciphertexts.length === 0) {
      throw new TypeError('TokenCipher.decrypt: token.ciphertexts must be a non-empty array');
    }
    for (const c of token.ciphertexts) {
      if (typeof c !== 'string' || c.length === 0 || !BASE64.test(c)) {
        throw new TypeError('TokenCipher.decrypt: every ciphertext must be standard base64');
      }
    }
    const results = await Promise.all(token.ciphertexts.map((c) => this.kms.send(new DecryptCommand({
      CiphertextBlob: Buffer.from(c, 'base64'),
      EncryptionContext: token.encryptionContext,
      KeyId: token.keyId || this.keyId,
    }))));
    const parts = results.map((r, i) => {
      if (!r.Plaintext) throw new Error(`KMS Decrypt returned no plaintext for part ${i}`);
      return Buffer.from(r.Plaintext);
    });
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(parts));
  }
}
