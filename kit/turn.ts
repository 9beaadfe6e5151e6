/**
 * One claimed message: the Bot Connector helpers a worker answers with, and whether it has answered. The first
 * accepted (or possibly accepted) reply marks the idempotency record `replied`; from then on no error is rethrown.
 */
import type { KitRuntime } from './setup';
import type { OutgoingActivity } from './types';
import { BotConnectorError } from '../lambda/shared/bot-connector';
import type { WorkerEvent } from '../lambda/shared/contract';
import { log } from '../lambda/shared/log';
import { countMetric, METRIC } from '../lambda/shared/metrics';

/** A string is a plain-text message; an object is an activity whose `type` defaults to `message`. */
export function toActivity(a: OutgoingActivity): Record<string, unknown> {
  if (typeof a === 'string') return { type: 'message', text: a, textFormat: 'plain' };
  if (typeof a !== 'object' || a === null) throw new TypeError('activity must be a string or an object');
  return { type: 'message', ...a };
}

/** The state of one message between claim and finish. */
export class Turn {
  private answered = false;

  constructor(
    private readonly rt: KitRuntime,
    /** The validated event. */
    readonly event: WorkerEvent,
    /** Its idempotency key. */
    readonly key: string,
    /** The owner token of this attempt's claim. */
    readonly owner: string,
    /** 1 for the first attempt. */
    readonly attempt: number,
  ) {}

  /** The id of the user's message. */
  get activityId(): string {
    return this.event.message.id;
  }

  /** True once a reply was (or may have been) posted. */
  get replied(): boolean {
    return this.answered;
  }

  /** Replies in the thread of the user's message. */
  reply(a: OutgoingActivity): Promise<{ id?: string }> {
    return this.post(() => this.rt.connector.replyToActivity(this.event.conversation, this.activityId, toActivity(a)));
  }

  /** Posts to the conversation without threading. */
  send(a: OutgoingActivity): Promise<{ id?: string }> {
    return this.post(() => this.rt.connector.sendToConversation(this.event.conversation, toActivity(a)));
  }

  /** Replaces an activity the bot sent. */
  update(id: string, a: OutgoingActivity): Promise<void> {
    return this.rt.connector.updateActivity(this.event.conversation, id, toActivity(a));
  }

  /** Sends a typing indicator; failures are logged, never thrown. */
  async typing(): Promise<void> {
    try {
      await this.rt.connector.sendTyping(this.event.conversation);
    } catch (err) {
      log.warn('worker_typing_failed', { activityId: this.activityId, error: err });
    }
  }

  /** Marks the record `replied` once; a failure to record it is logged (the reply itself stands). */
  async markReplied(replyId?: string): Promise<void> {
    if (this.answered) return;
    this.answered = true; // set first: from now on every error is "after the reply"
    countMetric(METRIC.WORKER_REPLIES);
    try {
      await this.rt.idempotency.markReplied(this.key, replyId);
    } catch (err) {
      log.error('worker_mark_replied_failed', { activityId: this.activityId, error: err });
    }
  }

  private async post(send: () => Promise<{ id?: string }>): Promise<{ id?: string }> {
    try {
      const result = await send();
      await this.markReplied(result.id);
      return result;
    } catch (err) {
      if (err instanceof BotConnectorError && err.outcomeUnknown) {
        // The message may have been posted: never risk a second one (at most once).
        log.error('worker_reply_outcome_unknown', { activityId: this.activityId, errorCode: err.code });
        await this.markReplied();
      }
      throw err;
    }
  }
}
