import { execFile } from 'node:child_process';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  type EncryptedToken,
  TokenCipher,
  TokenIntegrityError,
  encryptionContextAad,
  sameCiphertext,
  tokenEncryptionContext,
} from '../../lambda/shared/crypto';
import { LocalAws, awsClientConfig, createKey, startLocalAws, testAwsEnv } from '../support/local-aws';

jest.setTimeout(120_000);

const APP_ID = '00000000-0000-0000-0000-00000000b07a';
const ADA = { tenantId: '11111111-1111-1111-1111-111111111111', aadObjectId: 'aaaaaaaa-0000-0000-0000-000000000001' };
const BOB = { tenantId: '11111111-1111-1111-1111-111111111111', aadObjectId: 'bbbbbbbb-0000-0000-0000-000000000002' };

/** A JWT-shaped opaque string of exactly `bytes` ASCII bytes (like Entra's large access tokens). */
function fakeJwt(bytes: number): string {
  return `eyJ${randomBytes(bytes).toString('base64url')}`.slice(0, bytes);
}

let aws: LocalAws;
let kms: KMSClient;
let keyArn: string;
let otherKeyArn: string;
const sent: string[] = [];
let inFlight = 0;
let maxInFlight = 0;

beforeAll(async () => {
  aws = await startLocalAws();
  // eslint-disable-next-line no-console
  console.log(`local AWS started: ${JSON.stringify(aws.timings)}`);
  keyArn = await createKey(aws.motoEndpoint);
  otherKeyArn = await createKey(aws.motoEndpoint, 'another key');
  kms = new KMSClient(awsClientConfig(aws.motoEndpoint));
  kms.middlewareStack.add((next, context) => async (args) => {
    sent.push(context.commandName ?? '?');
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      return await next(args);
    } finally {
      inFlight--;
    }
  }, { step: 'initialize', name: 'countCalls' });
});

afterAll(async () => {
  kms?.destroy();
  await aws?.stop();
});

beforeEach(() => {
  sent.length = 0;
  maxInFlight = 0;
});

describe('tokenEncryptionContext', () => {
  test('has exactly appId, tenantId, aadObjectId, purpose', () => {
    expect(tokenEncryptionContext(APP_ID, ADA, 'refresh_token')).toStrictEqual({
      appId: APP_ID, tenantId: ADA.tenantId, aadObjectId: ADA.aadObjectId, purpose: 'refresh_token',
    });
  });
  test('rejects empty identifiers', () => {
    expect(() => tokenEncryptionContext('', ADA, 'access_token')).toThrow(/appId/);
    expect(() => tokenEncryptionContext(APP_ID, { ...ADA, aadObjectId: '' }, 'access_token')).toThrow(/aadObjectId/);
  });
});

describe('encryptionContextAad', () => {
  test('UTF-8 of the JSON object, keys sorted by code point, no whitespace, non-ASCII as is', () => {
    expect(encryptionContextAad({ purpose: 'access_token', appId: 'a', tenantId: 't', aadObjectId: 'o' }).toString('utf8'))
      .toBe('{"aadObjectId":"o","appId":"a","purpose":"access_token","tenantId":"t"}');
    expect(encryptionContextAad({ b: 'é"\\', a: '\u0001' }).toString('utf8')).toBe('{"a":"\\u0001","b":"é\\"\\\\"}');
  });
});

/** Runs a Python script with boto3 + cryptography against moto, `input` on stdin; its stdout. */
function python(script: string, input: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = execFile('python3', ['-c', script], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...testAwsEnv(aws) },
      timeout: 60_000,
      maxBuffer: 1024 * 1024,
    }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    child.stdin!.end(input);
  });
}

const b64 = (b: Buffer): string => b.toString('base64');
const unb64 = (s: string): Buffer => Buffer.from(s, 'base64');

describe('TokenCipher against moto KMS', () => {
  test('8 KB access token + refresh token round trip (beyond the 4 KB KMS limit): one GenerateDataKey, one Decrypt each', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const accessToken = fakeJwt(8 * 1024 + 100);
    const refreshToken = `0.A${randomBytes(1200).toString('base64url')}`;
    const atCtx = tokenEncryptionContext(APP_ID, ADA, 'access_token');
    const rtCtx = tokenEncryptionContext(APP_ID, ADA, 'refresh_token');

    const at = await cipher.encrypt(accessToken, atCtx);
    expect(sent).toEqual(['GenerateDataKeyCommand']);
    expect(Object.keys(at).sort()).toEqual(['ciphertext', 'encryptedKey', 'encryptionContext', 'iv', 'keyId']);
    expect(at.keyId).toBe(keyArn);
    expect(at.encryptionContext).toStrictEqual(atCtx);
    expect(unb64(at.iv)).toHaveLength(12);
    expect(unb64(at.ciphertext)).toHaveLength(Buffer.byteLength(accessToken) + 16); // GCM ciphertext, then the tag
    for (const v of [at.encryptedKey, at.iv, at.ciphertext]) expect(v).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(JSON.stringify(at)).not.toContain(accessToken.slice(0, 64));

    const rt = await cipher.encrypt(refreshToken, rtCtx);
    expect(rt.iv).not.toBe(at.iv);

    sent.length = 0;
    expect(await cipher.decrypt(at)).toBe(accessToken);
    expect(sent).toEqual(['DecryptCommand']);
    expect(await cipher.decrypt(rt)).toBe(refreshToken);
  });

  test('multi-byte UTF-8 characters survive', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const text = 'x'.repeat(4095) + 'é€😀'.repeat(2000);
    const enc = await cipher.encrypt(text, tokenEncryptionContext(APP_ID, ADA, 'access_token'));
    expect(await cipher.decrypt(enc)).toBe(text);
  });

  test('a long token is one unit: reordered, dropped, cut or spliced parts are refused, never a different token', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const ctx = tokenEncryptionContext(APP_ID, ADA, 'access_token');
    const token = fakeJwt(3 * 4096);
    const other = fakeJwt(3 * 4096);
    const enc = await cipher.encrypt(token, ctx);
    const enc2 = await cipher.encrypt(other, ctx);
    const ct = unb64(enc.ciphertext);
    const ct2 = unb64(enc2.ciphertext);
    const body = ct.subarray(0, ct.length - 16);
    const tag = ct.subarray(ct.length - 16);
    const block = (b: Buffer, i: number): Buffer => b.subarray(i * 4096, (i + 1) * 4096);
    const tampered: Array<[string, Partial<EncryptedToken>]> = [
      ['parts reordered', { ciphertext: b64(Buffer.concat([block(body, 1), block(body, 0), block(body, 2), tag])) }],
      ['last part dropped', { ciphertext: b64(Buffer.concat([block(body, 0), block(body, 1), tag])) }],
      ['cut short, tag kept', { ciphertext: b64(Buffer.concat([body.subarray(0, 4096), tag])) }],
      ['a part of another token of the same user spliced in', { ciphertext: b64(Buffer.concat([block(body, 0), block(ct2, 1), block(body, 2), tag])) }],
      ['another token\'s data key', { encryptedKey: enc2.encryptedKey }],
      ['another token\'s iv', { iv: enc2.iv }],
      ['first byte changed', { ciphertext: b64(Buffer.concat([Buffer.from([(ct[0] + 1) % 256]), ct.subarray(1)])) }],
    ];
    const outcomes = await Promise.all(tampered.map(async ([name, change]) =>
      [name, await cipher.decrypt({ ...enc, ...change }).then(() => 'decrypted', (err: Error) => err.name)]));
    expect(outcomes).toEqual(tampered.map(([name]) => [name, 'TokenIntegrityError']));
    // The same splice on a token of the legacy format (KMS ciphertexts of 4096-byte parts): refused as well, without
    // a KMS call, where decrypting part by part gave a different token.
    const parts = await Promise.all([0, 1, 2].map(async (i) => b64(Buffer.from((await kms.send(new EncryptCommand({
      KeyId: keyArn, Plaintext: Buffer.from(token.slice(i * 4096, (i + 1) * 4096)), EncryptionContext: ctx,
    }))).CiphertextBlob!))));
    sent.length = 0;
    for (const ciphertexts of [[parts[1], parts[0], parts[2]], [parts[0], parts[1]], parts]) {
      await expect(cipher.decrypt({ keyId: keyArn, ciphertexts, encryptionContext: ctx })).rejects.toThrow(TokenIntegrityError);
    }
    expect(sent).toEqual([]);
    // A legacy token of one part is one KMS ciphertext, one unit: it still decrypts (a stored refresh token).
    expect(await cipher.decrypt({ keyId: keyArn, ciphertexts: [parts[2]], encryptionContext: ctx })).toBe(token.slice(8192));
    // the untouched token still decrypts
    expect(await cipher.decrypt(enc)).toBe(token);
  });

  test('KMS enforces the encryption context: another user, another purpose, another app or no context fail', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const enc = await cipher.encrypt(fakeJwt(5000), tokenEncryptionContext(APP_ID, ADA, 'access_token'));
    const tries = [
      tokenEncryptionContext(APP_ID, BOB, 'access_token'),
      tokenEncryptionContext(APP_ID, ADA, 'refresh_token'),
      tokenEncryptionContext('another-app', ADA, 'access_token'),
      {},
    ];
    for (const encryptionContext of tries) {
      await expect(cipher.decrypt({ ...enc, encryptionContext })).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    }
    // the untouched token still decrypts
    expect(await cipher.decrypt(enc)).toHaveLength(5000);
  });

  test('the encryption context is also the GCM additional data: the data key in clear does not open it under another context', async () => {
    const ctx = tokenEncryptionContext(APP_ID, ADA, 'access_token');
    const enc = await new TokenCipher({ kms, keyId: keyArn }).encrypt('a token', ctx);
    const dataKey = await kms.send(new DecryptCommand({ KeyId: keyArn, CiphertextBlob: unb64(enc.encryptedKey), EncryptionContext: ctx }));
    const key = Buffer.from(dataKey.Plaintext!);
    const open = (aad: Buffer): string => {
      const sealed = unb64(enc.ciphertext);
      const d = createDecipheriv('aes-256-gcm', key, unb64(enc.iv));
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]).toString('utf8');
    };
    expect(open(encryptionContextAad(ctx))).toBe('a token');
    expect(() => open(encryptionContextAad({ ...ctx, aadObjectId: BOB.aadObjectId }))).toThrow();
    expect(() => open(Buffer.alloc(0))).toThrow();
  });

  test('a data key decrypts only under the key it names: KeyId of another key is refused', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const enc = await cipher.encrypt('short token', tokenEncryptionContext(APP_ID, ADA, 'access_token'));
    await expect(cipher.decrypt({ ...enc, keyId: otherKeyArn })).rejects.toMatchObject({ name: expect.stringMatching(/^(IncorrectKeyException|AccessDeniedException)$/) }); // AWS: IncorrectKeyException; moto 5: AccessDeniedException
  });

  test('language-neutral: Python (boto3 + cryptography AESGCM) decrypts with the documented steps', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const token = `${fakeJwt(9000)}é`;
    const enc = await cipher.encrypt(token, tokenEncryptionContext(APP_ID, BOB, 'access_token'));
    const script = [
      'import base64, json, sys, boto3',
      'from cryptography.hazmat.primitives.ciphers.aead import AESGCM',
      'tok = json.load(sys.stdin)',
      "ctx = tok['encryptionContext']",
      "key = boto3.client('kms').decrypt(CiphertextBlob=base64.b64decode(tok['encryptedKey']), EncryptionContext=ctx, KeyId=tok['keyId'])['Plaintext']",
      "aad = json.dumps(ctx, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')",
      "sys.stdout.buffer.write(AESGCM(key).decrypt(base64.b64decode(tok['iv']), base64.b64decode(tok['ciphertext']), aad))",
    ].join('\n');
    expect(await python(script, JSON.stringify(enc))).toBe(token);
  });

  test('sameCiphertext: the same stored ciphertext, not the same plaintext', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const ctx = tokenEncryptionContext(APP_ID, ADA, 'refresh_token');
    const a = await cipher.encrypt('rt', ctx);
    const b = await cipher.encrypt('rt', ctx);
    expect(sameCiphertext(a, { ...a })).toBe(true);
    expect(sameCiphertext(a, b)).toBe(false);
    expect(sameCiphertext(undefined, undefined)).toBe(true);
    expect(sameCiphertext(a, undefined)).toBe(false);
    expect(sameCiphertext({ keyId: keyArn, ciphertexts: ['QUJD'], encryptionContext: ctx }, a)).toBe(false);
  });

  test('rejects empty and oversized plaintexts and malformed tokens without calling KMS', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn, maxPlaintextBytes: 10_000 });
    const ctx = tokenEncryptionContext(APP_ID, ADA, 'access_token');
    const good = await cipher.encrypt('x', ctx);
    sent.length = 0;
    await expect(cipher.encrypt('', ctx)).rejects.toThrow(/non-empty/);
    await expect(cipher.encrypt('x'.repeat(10_001), ctx)).rejects.toThrow(/exceeds/);
    await expect(cipher.decrypt({ keyId: keyArn, ciphertexts: [], encryptionContext: ctx })).rejects.toThrow(TokenIntegrityError);
    await expect(cipher.decrypt({ keyId: keyArn, ciphertexts: ['not base64!'], encryptionContext: ctx })).rejects.toThrow(/base64/);
    await expect(cipher.decrypt({ ...good, encryptedKey: 'not base64!' })).rejects.toThrow(/encryptedKey must be standard base64/);
    await expect(cipher.decrypt({ ...good, iv: b64(Buffer.alloc(16)) })).rejects.toThrow(/iv must be 12 bytes/);
    await expect(cipher.decrypt({ ...good, ciphertext: b64(Buffer.alloc(16)) })).rejects.toThrow(/shorter than its tag/);
    expect(sent).toHaveLength(0);
  });
});
