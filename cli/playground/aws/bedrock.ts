/**
 * The Bedrock Runtime stand-in (the playground's `--assistant --bedrock local`, and the assistant's e2e tests): the real
 * wire protocol over h2c (the SDK's Bedrock Runtime and Agent Runtime clients talk HTTP/2; against an `http://`
 * endpoint they use cleartext h2 with prior knowledge), on its own port of 127.0.0.1:
 *
 * - `POST /model/{modelId}/converse`: JSON (restJson1);
 * - `POST /model/{modelId}/converse-stream`: `application/vnd.amazon.eventstream`, one event-stream frame per event
 *   (`:event-type`, `:content-type`, `:message-type` headers; encoded with @smithy/eventstream-codec);
 * - Bedrock Agent Runtime `POST /knowledgebases/{knowledgeBaseId}/retrieve`: JSON, scripted `retrievalResults`;
 * - errors: status + `x-amzn-ErrorType` header + `{ message }` (e.g. 429 `ThrottlingException`). A conversation
 *   Bedrock would refuse (not starting with a user message, roles not alternating, a tool use without its result or a
 *   result without its tool use) is a 400 `ValidationException`, as from Bedrock.
 *
 * Each model call plays one turn: text streamed in chunks at a fixed rate, a tool use, a stop reason (e.g. a guardrail
 * intervention), an error or a broken stream. The turn is the next one queued with `script()`, else the one the
 * `model` option computes from the request (the playground's scripted model, ../model.ts), else "OK.".
 * Point the SDK at it with `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (or `endpoint`).
 */
import { createServer, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
// eslint-disable-next-line import/no-extraneous-dependencies -- inlined into the CLI bundle by esbuild
import { EventStreamCodec } from '@smithy/eventstream-codec';
// eslint-disable-next-line import/no-extraneous-dependencies -- inlined into the CLI bundle by esbuild
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

/** One model turn. */
export interface ModelTurn {
  /** Text the model produces, split into word chunks (or given as chunks). */
  text?: string | string[];
  /** A tool call the model makes after its text (stop reason `tool_use`). */
  toolUse?: { name: string; input: Record<string, unknown> };
  /** Stop reason (default `end_turn`, or `tool_use` with `toolUse`); `guardrail_intervened` for a guardrail. */
  stopReason?: string;
  /** Delay before each text chunk (a fixed token rate). */
  chunkDelayMs?: number;
  /** Fail the call instead: status and error type (e.g. 429 `ThrottlingException`). */
  error?: { status: number; type: string };
  /** Abort the stream after this many text chunks (a broken connection mid-answer). */
  abortAfterChunks?: number;
}

/** One request the stand-in saw. */
export interface BedrockRequest {
  operation: 'converse' | 'converse-stream' | 'retrieve';
  /** The model id, or the knowledge base id of a `retrieve`. */
  modelId: string;
  /** The request's JSON body (Converse: `messages`, `system`, `toolConfig`, `inferenceConfig`, `guardrailConfig`). */
  body: any;
}

/** Computes the turn of a model call from its request (when no scripted turn is queued). */
export type Model = (request: BedrockRequest) => ModelTurn;

/** A retrieval: the `retrievalResults`, or an error. */
export type ScriptedRetrieval = Array<Record<string, unknown>> | { error: { status: number; type: string } };

/** Options of {@link startBedrockStandIn}. */
export interface BedrockStandInOptions {
  /** The model playing the turns nobody scripted (default: "OK."). */
  model?: Model;
  /** Requests kept in `requests`, the newest (default: all; the playground keeps a few). */
  keepRequests?: number;
}

/** A running stand-in. */
export interface BedrockStandIn {
  /** `http://127.0.0.1:{port}`. */
  endpoint: string;
  /** The requests seen (at most `keepRequests`, the newest). */
  requests: BedrockRequest[];
  /** Queues turns, played in order before the model is asked. */
  script(...turns: ModelTurn[]): void;
  /** Queues the `retrievalResults` of the next `Retrieve` calls (with none left: no results). */
  scriptRetrieval(...results: ScriptedRetrieval[]): void;
  stop(): Promise<void>;
}

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** One event-stream frame of a ConverseStream event. */
export function frame(eventType: string, body: Record<string, unknown>): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(JSON.stringify(body)),
  });
}

function chunksOf(turn: ModelTurn): string[] {
  if (Array.isArray(turn.text)) return turn.text;
  if (!turn.text) return [];
  return turn.text.match(/\S+\s*/g) ?? [turn.text];
}

function stopReasonOf(turn: ModelTurn): string {
  return turn.stopReason ?? (turn.toolUse ? 'tool_use' : 'end_turn');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Why Bedrock would refuse this conversation (a ValidationException), or undefined: it starts with a user message,
 * roles alternate, and each assistant tool use is answered by a tool result with its id in the next user message
 * (and no result answers anything else).
 */
export function conversationError(messages: unknown): string | undefined {
  if (!Array.isArray(messages) || messages.length === 0) return 'messages must not be empty';
  if (messages[0]?.role !== 'user') return 'A conversation must start with a user message.';
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!Array.isArray(m?.content) || m.content.length === 0) return `messages.${i}.content must not be empty`;
    if (i > 0 && m.role === messages[i - 1].role) return 'A conversation must alternate between user and assistant roles.';
    const results: string[] = m.content.filter((c: any) => c?.toolResult).map((c: any) => c.toolResult.toolUseId);
    const uses: string[] = i > 0 && m.role === 'user' ? messages[i - 1].content.filter((c: any) => c?.toolUse).map((c: any) => c.toolUse.toolUseId) : [];
    if (m.role === 'assistant' && results.length > 0) return `messages.${i}: toolResult blocks belong in user messages`;
    if (results.some((id) => !uses.includes(id)) || uses.some((id) => !results.includes(id))) {
      return `messages.${i}: the toolResult blocks must answer exactly the toolUse blocks of the previous turn`;
    }
  }
  const last = messages[messages.length - 1];
  if (last.role !== 'user') return 'A conversation must end with a user message.';
  return undefined;
}

async function playStream(stream: ServerHttp2Stream, turn: ModelTurn, toolUseId: string): Promise<void> {
  stream.respond({ ':status': 200, 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': toolUseId });
  stream.write(frame('messageStart', { role: 'assistant' }));
  let index = 0;
  const chunks = chunksOf(turn);
  let outputTokens = 0;
  for (const [i, chunk] of chunks.entries()) {
    if (turn.abortAfterChunks !== undefined && i >= turn.abortAfterChunks) {
      stream.close(2); // RST_STREAM INTERNAL_ERROR: the connection broke mid-answer
      return;
    }
    if (turn.chunkDelayMs) await sleep(turn.chunkDelayMs);
    if (stream.destroyed) return; // the client went away
    // Written through to the socket before the next step (so an abort comes after the chunks already sent).
    await new Promise<void>((resolve) => stream.write(frame('contentBlockDelta', { contentBlockIndex: index, delta: { text: chunk } }), () => resolve()));
    outputTokens++;
  }
  if (chunks.length > 0) stream.write(frame('contentBlockStop', { contentBlockIndex: index++ }));
  if (turn.toolUse) {
    stream.write(frame('contentBlockStart', { contentBlockIndex: index, start: { toolUse: { toolUseId, name: turn.toolUse.name } } }));
    const json = JSON.stringify(turn.toolUse.input);
    const half = Math.ceil(json.length / 2);
    for (const part of [json.slice(0, half), json.slice(half)]) {
      stream.write(frame('contentBlockDelta', { contentBlockIndex: index, delta: { toolUse: { input: part } } }));
    }
    stream.write(frame('contentBlockStop', { contentBlockIndex: index }));
  }
  stream.write(frame('messageStop', { stopReason: stopReasonOf(turn) }));
  stream.end(frame('metadata', { usage: { inputTokens: 100, outputTokens, totalTokens: 100 + outputTokens }, metrics: { latencyMs: 1 } }));
}

function converseBody(turn: ModelTurn, toolUseId: string): Record<string, unknown> {
  const text = chunksOf(turn).join('');
  const content: Array<Record<string, unknown>> = text ? [{ text }] : [];
  if (turn.toolUse) content.push({ toolUse: { toolUseId, name: turn.toolUse.name, input: turn.toolUse.input } });
  return {
    output: { message: { role: 'assistant', content } },
    stopReason: stopReasonOf(turn),
    usage: { inputTokens: 100, outputTokens: chunksOf(turn).length, totalTokens: 100 + chunksOf(turn).length },
    metrics: { latencyMs: 1 },
  };
}

function sendError(stream: ServerHttp2Stream, status: number, type: string, message: string): void {
  stream.respond({ ':status': status, 'x-amzn-errortype': type, 'content-type': 'application/json' });
  stream.end(JSON.stringify({ message }));
}

function parseBody(parts: Buffer[]): any {
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8') || '{}');
  } catch {
    return undefined;
  }
}

/** Starts the stand-in on 127.0.0.1 (a free port). */
export async function startBedrockStandIn(o: BedrockStandInOptions = {}): Promise<BedrockStandIn> {
  const turns: ModelTurn[] = [];
  const retrievals: ScriptedRetrieval[] = [];
  const requests: BedrockRequest[] = [];
  const keep = o.keepRequests ?? Infinity;
  const record = (r: BedrockRequest): void => {
    requests.push(r);
    while (requests.length > keep) requests.shift();
  };
  let n = 0;
  const server: Http2Server = createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path'] ?? '').split('?')[0];
    const parts: Buffer[] = [];
    stream.on('error', () => undefined); // an aborted stream (scripted, or the client gone) errors on this side too
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => {
      const body = parseBody(parts);
      const kb = /^\/knowledgebases\/([^/]+)\/retrieve$/.exec(path);
      const m = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
      if (headers[':method'] !== 'POST' || (!kb && !m)) return sendError(stream, 404, 'UnknownOperationException', 'unknown operation');
      if (body === undefined) return sendError(stream, 400, 'SerializationException', 'the request body is not JSON');
      if (kb) {
        record({ operation: 'retrieve', modelId: decodeURIComponent(kb[1]), body });
        const next = retrievals.shift() ?? [];
        if (!Array.isArray(next)) return sendError(stream, next.error.status, next.error.type, 'stand-in error');
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ retrievalResults: next }));
        return;
      }
      const request: BedrockRequest = { operation: m![2] as BedrockRequest['operation'], modelId: decodeURIComponent(m![1]), body };
      record(request);
      const invalid = conversationError(body.messages);
      if (invalid) return sendError(stream, 400, 'ValidationException', invalid);
      let turn: ModelTurn;
      try {
        turn = turns.shift() ?? o.model?.(request) ?? { text: 'OK.' };
      } catch (err) {
        return sendError(stream, 500, 'InternalServerException', `the local model failed: ${(err as Error).message}`);
      }
      const toolUseId = `tooluse_${++n}`;
      if (turn.error) return sendError(stream, turn.error.status, turn.error.type, 'stand-in error');
      if (request.operation === 'converse') {
        const delay = (turn.chunkDelayMs ?? 0) * chunksOf(turn).length;
        setTimeout(() => {
          stream.respond({ ':status': 200, 'content-type': 'application/json' });
          stream.end(JSON.stringify(converseBody(turn, toolUseId)));
        }, delay);
        return;
      }
      playStream(stream, turn, toolUseId).catch(() => stream.close(2));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    script: (...t) => {
      turns.push(...t);
    },
    scriptRetrieval: (...r) => {
      retrievals.push(...r);
    },
    stop: () => new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    }),
  };
}
