/**
 * A token item as the legacy format wrote it (item version 1, before envelope encryption): each token cut into
 * 4096-byte parts, each part a KMS `Encrypt` ciphertext under the token's encryption context, stored as a list. For the
 * migration tests of the token store and the receiver (docs/design.md, "Encryption").
 */
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { normalizeUserKey, tokenKey, type UserKey } from '../../lambda/shared/token-store';

/** Where the legacy item goes and what encrypts it. */
export interface LegacyItemTarget {
  ddb: DynamoDBClient;
  kms: KMSClient;
  tableName: string;
  keyArn: string;
  appId: string;
}

/**
 * Writes a legacy item: access token `at`, refresh token `rt` (optional), expiring `expiresAt` (epoch seconds).
 * `order` picks and orders the parts stored (a splice: `[1, 0, 2]` reorders, `[0, 1]` drops the last part).
 */
export async function putLegacyTokenItem(target: LegacyItemTarget, user: UserKey,
  tokens: { at: string; rt?: string; expiresAt: number; updatedAt: number }, order: { at?: number[]; rt?: number[] } = {}): Promise<void> {
  const u = normalizeUserKey(user);
  const parts = async (token: string, purpose: string, pick?: number[]) => {
    const bytes = Buffer.from(token, 'utf8');
    const all = await Promise.all(Array.from({ length: Math.ceil(bytes.length / 4096) }, async (_, i) => {
      const out = await target.kms.send(new EncryptCommand({
        KeyId: target.keyArn,
        Plaintext: bytes.subarray(i * 4096, (i + 1) * 4096),
        EncryptionContext: { appId: target.appId, tenantId: u.tenantId, aadObjectId: u.aadObjectId, purpose },
      }));
      return { S: Buffer.from(out.CiphertextBlob!).toString('base64') };
    }));
    return { L: pick ? pick.map((i) => all[i]) : all };
  };
  await target.ddb.send(new PutItemCommand({
    TableName: target.tableName,
    Item: {
      pk: { S: tokenKey(u) },
      v: { N: '1' },
      kid: { S: target.keyArn },
      at: await parts(tokens.at, 'access_token', order.at),
      ...(tokens.rt ? { rt: await parts(tokens.rt, 'refresh_token', order.rt), rkid: { S: target.keyArn } } : {}),
      exp: { N: String(tokens.expiresAt) },
      scp: { S: 'User.Read' },
      upd: { N: String(tokens.updatedAt) },
      ttl: { N: String(tokens.updatedAt + 86400) },
    },
  }));
}
