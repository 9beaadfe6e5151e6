import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  KMS_MAX_PLAINTEXT_BYTES,
  TokenCipher,
  splitBytes,
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

describe('splitBytes', () => {
  test('4096-byte parts, last part the remainder', () => {
    const parts = splitBytes(new Uint8Array(8193));
    expect(parts.map((p) => p.length)).toEqual([4096, 4096, 1]);
    expect(splitBytes(new Uint8Array(4096)).map((p) => p.length)).toEqual([4096]);
  });
});

describe('TokenCipher against moto KMS', () => {
  test('8 KB access token + refresh token round trip (beyond the 4 KB KMS limit), parts encrypted in parallel', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const accessToken = fakeJwt(8 * 1024 + 100);
    const refreshToken = `0.A${randomBytes(1200).toString('base64url')}`;
    const atCtx = tokenEncryptionContext(APP_ID, ADA, 'access_token');
    const rtCtx = tokenEncryptionContext(APP_ID, ADA, 'refresh_token');

    const at = await cipher.encrypt(accessToken, atCtx);
    expect(at.ciphertexts).toHaveLength(3); // 4096 + 4096 + 108 bytes
    expect(sent.filter((c) => c === 'EncryptCommand')).toHaveLength(3);
    expect(maxInFlight).toBe(3); // all parts in flight at once
    expect(at.keyId).toBe(keyArn);
    expect(at.encryptionContext).toStrictEqual(atCtx);
    for (const c of at.ciphertexts) expect(c).not.toContain(accessToken.slice(0, 64));

    const rt = await cipher.encrypt(refreshToken, rtCtx);
    expect(rt.ciphertexts.length).toBeGreaterThanOrEqual(1);

    sent.length = 0;
    maxInFlight = 0;
    expect(await cipher.decrypt(at)).toBe(accessToken);
    expect(sent.filter((c) => c === 'DecryptCommand')).toHaveLength(3);
    expect(maxInFlight).toBe(3);
    expect(await cipher.decrypt(rt)).toBe(refreshToken);
  });

  test('multi-byte UTF-8 characters cut across a part boundary survive', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const text = 'x'.repeat(4095) + 'é€😀'.repeat(2000);
    const enc = await cipher.encrypt(text, tokenEncryptionContext(APP_ID, ADA, 'access_token'));
    expect(enc.ciphertexts.length).toBe(Math.ceil(Buffer.byteLength(text) / KMS_MAX_PLAINTEXT_BYTES));
    expect(await cipher.decrypt(enc)).toBe(text);
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

  test('a ciphertext decrypts only under the key it names: KeyId of another key is refused', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const enc = await cipher.encrypt('short token', tokenEncryptionContext(APP_ID, ADA, 'access_token'));
    await expect(cipher.decrypt({ ...enc, keyId: otherKeyArn })).rejects.toMatchObject({ name: expect.stringMatching(/^(IncorrectKeyException|AccessDeniedException)$/) }); // AWS: IncorrectKeyException; moto 5: AccessDeniedException
  });

  test('parts are plain KMS ciphertext blobs: the SDK Decrypt of one part gives that part\'s bytes', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const token = fakeJwt(4096 + 10);
    const ctx = tokenEncryptionContext(APP_ID, ADA, 'access_token');
    const enc = await cipher.encrypt(token, ctx);
    for (const c of enc.ciphertexts) expect(c).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const second = await kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from(enc.ciphertexts[1], 'base64'), EncryptionContext: ctx }));
    expect(Buffer.from(second.Plaintext!).toString('utf8')).toBe(token.slice(4096));
  });

  test('language-neutral: Python boto3 decrypts the parts with the same context and joins them', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn });
    const token = fakeJwt(9000);
    const enc = await cipher.encrypt(token, tokenEncryptionContext(APP_ID, BOB, 'access_token'));
    const script = [
      'import base64, json, sys, boto3',
      'tok = json.load(sys.stdin)',
      "kms = boto3.client('kms')",
      "parts = [kms.decrypt(CiphertextBlob=base64.b64decode(c), EncryptionContext=tok['encryptionContext'], KeyId=tok['keyId'])['Plaintext'] for c in tok['ciphertexts']]",
      "sys.stdout.write(b''.join(parts).decode('utf-8'))",
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile('python3', ['-c', script], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...testAwsEnv(aws) },
        timeout: 60_000,
        maxBuffer: 1024 * 1024,
      }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
      child.stdin!.end(JSON.stringify(enc));
    });
    expect(out).toBe(token);
  });

  test('rejects empty and oversized plaintexts and malformed ciphertexts without calling KMS', async () => {
    const cipher = new TokenCipher({ kms, keyId: keyArn, maxPlaintextBytes: 10_000 });
    const ctx = tokenEncryptionContext(APP_ID, ADA, 'access_token');
    await expect(cipher.encrypt('', ctx)).rejects.toThrow(/non-empty/);
    await expect(cipher.encrypt('x'.repeat(10_001), ctx)).rejects.toThrow(/exceeds/);
    await expect(cipher.decrypt({ keyId: keyArn, ciphertexts: [], encryptionContext: ctx })).rejects.toThrow(/non-empty/);
    await expect(cipher.decrypt({ keyId: keyArn, ciphertexts: ['not base64!'], encryptionContext: ctx })).rejects.toThrow(/base64/);
    expect(sent).toHaveLength(0);
  });
});
