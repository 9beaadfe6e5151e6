/**
 * A worker stand-in that answers the way the worker kit does: through the kit's idempotency record
 * (lambda/shared/idempotency.ts: begin, reply, mark replied), so a message handed over twice (Lambda's asynchronous
 * invoke is at-least-once, and a resume may hand a message over again) is answered once. The reply goes to the Bot
 * Connector stand-in as a real reply (`POST v3/conversations/{id}/activities/{activityId}`), so a test counts the
 * answers where Teams would see them: {@link answersByActivity}.
 *
 * {@link routeInvocations} lets one Lambda Invoke stand-in serve both the worker and the receiver's own resume
 * continuation (the receiver invoking itself by its function name).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { BotConnectorStub } from './bot-connector-stub';
import type { StubContext, StubHandler } from './lambda-invoke-stub';
import { IdempotencyStore, idempotencyKey } from '../../lambda/shared/idempotency';

/** The text of every answer this worker posts (the prefix tells answers from cards and notices). */
export const ANSWER_PREFIX = 'answer to ';

/** Options of {@link replyingWorker}. */
export interface ReplyingWorkerOptions {
  /** DynamoDB client and table of the idempotency records (the conversation table). */
  readonly ddb: () => DynamoDBClient;
  readonly tableName: () => string;
}

interface WorkerEventLike {
  conversation: { serviceUrl: string; conversation: { id: string } };
  message: { id: string };
}

/** A worker stand-in: idempotency record, one reply per message, the record marked replied. */
export function replyingWorker(opts: ReplyingWorkerOptions): StubHandler {
  let store: IdempotencyStore | undefined;
  return async (event: unknown) => {
    store ??= new IdempotencyStore({ ddb: opts.ddb(), tableName: opts.tableName() });
    const ev = event as WorkerEventLike;
    const key = idempotencyKey(ev.conversation.conversation.id, ev.message.id);
    const begun = await store.begin(key, 30_000);
    if (begun.outcome !== 'acquired') return;
    const url = `${ev.conversation.serviceUrl}v3/conversations/${encodeURIComponent(ev.conversation.conversation.id)}`
      + `/activities/${encodeURIComponent(ev.message.id)}`;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'authorization': 'Bearer test-worker' },
        body: JSON.stringify({ type: 'message', text: `${ANSWER_PREFIX}${ev.message.id}`, replyToId: ev.message.id }),
      });
      if (!res.ok) throw new Error(`reply failed: ${res.status}`);
    } catch (err) {
      // As the kit does (kit/lifecycle.ts `fail`): a failure before the reply releases the record, so Lambda's retry
      // of this event acquires it again instead of meeting a live lease and skipping the message.
      await store.markFailed(key, begun.owner, 'ReplyFailed');
      throw err;
    }
    await store.markReplied(key);
  };
}

/**
 * Answers the worker posted, per activity answered (one each if "answered exactly once" holds), keyed by
 * {@link answerKey}: activity ids are unique only within a conversation.
 */
export function answersByActivity(connector: BotConnectorStub): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of connector.activities) {
    const text = a.activity?.text;
    if (typeof text !== 'string' || !text.startsWith(ANSWER_PREFIX) || a.activityId === undefined) continue;
    const key = answerKey(a.conversationId, a.activityId);
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/** The key of {@link answersByActivity}: conversation id and activity id. */
export function answerKey(conversationId: string, activityId: string): string {
  return `${conversationId} ${activityId}`;
}

/**
 * One handler for a Lambda Invoke stand-in that serves two functions: invocations of `receiverFunction` (the
 * receiver's resume continuation, sent by the receiver to itself) run `receiver()`, every other one runs `worker`.
 */
export function routeInvocations(p: {
  receiverFunction: string;
  receiver: () => ((event: Record<string, unknown>, context: StubContext) => Promise<unknown>) | undefined;
  worker: StubHandler;
}): StubHandler {
  return async (event, context) => {
    if (context.functionName === p.receiverFunction) {
      const receiver = p.receiver();
      if (!receiver) throw new Error('routeInvocations: the receiver is not loaded');
      return receiver(event as Record<string, unknown>, context);
    }
    return p.worker(event, context);
  };
}
