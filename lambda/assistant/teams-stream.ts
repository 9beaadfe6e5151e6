/**
 * Streams an answer into Teams. In 1:1 chats: Teams' bot streaming protocol (an informative `typing` update, then
 * `typing` updates carrying all the text so far with a `streaminfo` entity, `streamId` from the first update and an
 * increasing `streamSequence`, at most one per `intervalMs`; the end is a `message` with `streamType: "final"`). In
 * group chats and channels (no streaming there): a placeholder reply at the first text, updated in a few steps.
 *
 * The first post goes through the kit's `send` / `reply`, which marks the message answered in its idempotency record
 * (with the stream id): a Lambda retry after a partly streamed answer is skipped by the kit, never answered twice.
 */
import type { OutgoingActivity } from '../../kit';

/** The kit helpers a stream posts with. */
export interface StreamSink {
  send(a: OutgoingActivity): Promise<{ id?: string }>;
  reply(a: OutgoingActivity): Promise<{ id?: string }>;
  update(id: string, a: OutgoingActivity): Promise<void>;
}

/** Group chats: the placeholder is updated at most this often. */
const GROUP_UPDATE_MS = 3000;

/** One answer being streamed. */
export class TeamsStream {
  private streamId?: string;
  private sequence = 0;
  private lastUpdate = 0;
  private text = '';
  private pending?: Promise<void>;

  constructor(
    private readonly sink: StreamSink,
    private readonly personal: boolean,
    private readonly intervalMs: number,
    /** Runs once before the first post (stops the typing indicator). */
    private readonly beforeFirstPost: () => Promise<void> = async () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** True once something was posted (the message counts as answered). */
  get started(): boolean {
    return this.streamId !== undefined;
  }

  /** 1:1 only: the informative update ("Looking at your calendar…"); it starts the stream. */
  async inform(text: string): Promise<void> {
    if (!this.personal) return;
    const info = { type: 'streaminfo', streamType: 'informative', streamSequence: ++this.sequence };
    await this.post({ type: 'typing', text: text.slice(0, 1000), entities: [this.entity(info)], channelData: this.channelData(info) });
  }

  /** Adds text; posts an update when the interval has passed (never two updates in flight). */
  async append(delta: string): Promise<void> {
    this.text += delta;
    if (this.pending || this.now() - this.lastUpdate < (this.personal ? this.intervalMs : GROUP_UPDATE_MS)) return;
    this.pending = this.flush().finally(() => { this.pending = undefined; });
    await this.pending;
  }

  /** The text streamed so far. */
  get sofar(): string {
    return this.text;
  }

  /** Ends the stream with the final message (the whole text, plus entities such as citations). */
  async finish(text: string, entities: Array<Record<string, unknown>> = []): Promise<void> {
    await this.pending;
    if (this.personal) {
      const info = { type: 'streaminfo', streamType: 'final' };
      await this.post({ type: 'message', text, textFormat: 'markdown', entities: [this.entity(info), ...entities], channelData: this.channelData(info) });
    } else if (this.streamId) {
      await this.sink.update(this.streamId, { type: 'message', text, textFormat: 'markdown', entities });
    } else {
      await this.post({ type: 'message', text, textFormat: 'markdown', entities });
    }
  }

  private async flush(): Promise<void> {
    if (this.text === '') return;
    this.lastUpdate = this.now();
    if (!this.personal) {
      if (this.streamId) await this.sink.update(this.streamId, { type: 'message', text: `${this.text} …`, textFormat: 'markdown' });
      else await this.post({ type: 'message', text: `${this.text} …`, textFormat: 'markdown' });
      return;
    }
    const info = { type: 'streaminfo', streamType: 'streaming', streamSequence: ++this.sequence };
    await this.post({ type: 'typing', text: this.text, entities: [this.entity(info)], channelData: this.channelData(info) });
  }

  private entity(info: Record<string, unknown>): Record<string, unknown> {
    return this.streamId ? { ...info, streamId: this.streamId } : info;
  }

  private channelData(info: Record<string, unknown>): Record<string, unknown> {
    const { type: _type, ...rest } = info;
    return this.streamId ? { ...rest, streamId: this.streamId } : rest;
  }

  private async post(activity: Record<string, unknown>): Promise<void> {
    if (!this.streamId) await this.beforeFirstPost();
    const res = this.personal ? await this.sink.send(activity) : await this.sink.reply(activity);
    if (!this.streamId) this.streamId = res.id ?? '';
  }
}
