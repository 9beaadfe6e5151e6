/**
 * Conversation memory: the last N turns (the user's text and the assistant's answer) of one user in one conversation,
 * kept in the conversation table, encrypted with the bot's KMS key (TokenCipher; encryption context `{appId, tenantId,
 * aadObjectId, purpose: "assistant_memory"}`), with a TTL. docs/assistant.md explains the choice over rebuilding the
 * thread from Graph.
 *
 * Item: pk `worker#memory#{conversationId}#{aadObjectId}` (percent-encoded parts, under the worker's `worker#` leading
 * key), sk `memory`, `data` (the ciphertext JSON), `ttl`. Memory is best effort: a failed read or write is logged and
 * the answer goes on without it (it never costs the user an answer).
 */
// Handler dependencies are devDependencies (esbuild inlines them into the bundles).
// eslint-disable-next-line import/no-extraneous-dependencies
import type { Message } from '@aws-sdk/client-bedrock-runtime';
// eslint-disable-next-line import/no-extraneous-dependencies
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ASSISTANT_MEMORY_PURPOSE } from '../../src/private/assistant';
import { TABLE_KEYS, WORKER_KEY_KIND } from '../../src/private/shared-data';
import type { TokenCipher } from '../shared/crypto';
import { compositeKey } from '../shared/keys';
import { log } from '../shared/log';

/** Sort key of memory items. */
export const MEMORY_SK = 'memory';
/** Memory items expire this long after the last turn. */
export const MEMORY_TTL_SECONDS = 7 * 24 * 3600;
/** Characters kept of each question and each answer. */
export const MEMORY_QUESTION_MAX_CHARS = 1000;
export const MEMORY_ANSWER_MAX_CHARS = 2000;
/** Purpose in the encryption context of memory items (IAM grants GenerateDataKey/Decrypt for it). */
export const MEMORY_PURPOSE = ASSISTANT_MEMORY_PURPOSE;

/** One remembered turn. */
export interface MemoryTurn {
  /** The user's text. */
  q: string;
  /** The assistant's answer. */
  a: string;
  /** Epoch ms. */
  at: number;
}

/** Whose memory. */
export interface MemoryOwner {
  conversationId: string;
  tenantId: string;
  aadObjectId: string;
}

/** Options of {@link ConversationMemory}. */
export interface ConversationMemoryOptions {
  ddb: DynamoDBClient;
  cipher: TokenCipher;
  tableName: string;
  appId: string;
  /** Turns kept (and given to the model). */
  turns: number;
}

/** The memory store. */
export class ConversationMemory {
  /** The item key of an owner. */
  static key(owner: MemoryOwner): string {
    return compositeKey(WORKER_KEY_KIND, 'memory', owner.conversationId, owner.aadObjectId);
  }

  constructor(private readonly opts: ConversationMemoryOptions) {}

  /** The remembered turns, oldest first ([] when none, expired, or unreadable). */
  async load(owner: MemoryOwner): Promise<MemoryTurn[]> {
    try {
      const res = await this.opts.ddb.send(new GetItemCommand({
        TableName: this.opts.tableName,
        Key: { [TABLE_KEYS.partitionKey]: { S: ConversationMemory.key(owner) }, [TABLE_KEYS.sortKey]: { S: MEMORY_SK } },
        ConsistentRead: true,
      }));
      const data = res.Item?.data?.S;
      const ttl = Number(res.Item?.[TABLE_KEYS.ttl]?.N ?? 0);
      if (!data || ttl * 1000 <= Date.now()) return []; // TTL deletion is lazy: an expired item is not memory
      const turns = JSON.parse(await this.opts.cipher.decrypt(JSON.parse(data))) as MemoryTurn[];
      return Array.isArray(turns) ? turns.slice(-this.opts.turns) : [];
    } catch (err) {
      log.warn('assistant_memory_read_failed', { error: err });
      return [];
    }
  }

  /** Appends a turn and keeps the last N (best effort). */
  async append(owner: MemoryOwner, earlier: readonly MemoryTurn[], turn: MemoryTurn): Promise<void> {
    const turns = [...earlier, {
      q: turn.q.slice(0, MEMORY_QUESTION_MAX_CHARS), a: turn.a.slice(0, MEMORY_ANSWER_MAX_CHARS), at: turn.at,
    }].slice(-this.opts.turns);
    try {
      const context = { appId: this.opts.appId, tenantId: owner.tenantId, aadObjectId: owner.aadObjectId, purpose: MEMORY_PURPOSE };
      const encrypted = await this.opts.cipher.encrypt(JSON.stringify(turns), context);
      await this.opts.ddb.send(new PutItemCommand({
        TableName: this.opts.tableName,
        Item: {
          [TABLE_KEYS.partitionKey]: { S: ConversationMemory.key(owner) },
          [TABLE_KEYS.sortKey]: { S: MEMORY_SK },
          data: { S: JSON.stringify(encrypted) },
          [TABLE_KEYS.ttl]: { N: String(Math.floor(Date.now() / 1000) + MEMORY_TTL_SECONDS) },
        },
      }));
    } catch (err) {
      log.warn('assistant_memory_write_failed', { error: err });
    }
  }
}

/** The remembered turns as Converse messages (user, assistant, …), before the new question. */
export function memoryMessages(turns: readonly MemoryTurn[]): Message[] {
  return turns.flatMap((t): Message[] => [
    { role: 'user', content: [{ text: t.q || '(no text)' }] },
    { role: 'assistant', content: [{ text: t.a || '(no answer)' }] },
  ]);
}
