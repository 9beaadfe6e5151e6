/**
 * A local Bedrock Runtime stand-in speaking the real wire protocol, over h2c (the SDK's Bedrock Runtime client talks
 * HTTP/2; against an `http://` endpoint it uses cleartext h2 with prior knowledge):
 *
 * - `POST /model/{modelId}/converse`: JSON (restJson1);
 * - `POST /model/{modelId}/converse-stream`: `application/vnd.amazon.eventstream`, one event-stream frame per event
 *   (`:event-type`, `:content-type`, `:message-type` headers; encoded with @smithy/eventstream-codec);
 * - Bedrock Agent Runtime `POST /knowledgebases/{knowledgeBaseId}/retrieve`: JSON (restJson1), scripted
 *   `retrievalResults` (the Agent Runtime client talks h2 too);
 * - errors: status + `x-amzn-ErrorType` header + `{ message }` (e.g. 429 `ThrottlingException`).
 *
 * It plays scripted turns in order: text streamed in chunks at a fixed rate, tool use, guardrail interventions.
 * Point the SDK at it with `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (or `endpoint`).
 */
/* eslint-disable import/no-extraneous-dependencies */
import { createServer, Http2Server, ServerHttp2Stream } from 'node:http2';
import { AddressInfo } from 'node:net';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

/** One scripted model turn. */
export interface ScriptedTurn {
  /** Text the model produces, split into `chunks` (or given as chunks). */
  text?: string | string[];
  /** A tool call the model makes after its text (stop reason `tool_use`). */
  toolUse?: { name: string; input: Record<string, unknown> };
  /** Stop reason (default `end_turn`, or `tool_use` with `toolUse`). */
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
  body: any;
}

/** A running stand-in. */
export interface BedrockStandIn {
  /** `http://127.0.0.1:{port}`. */
  endpoint: string;
  requests: BedrockRequest[];
  /** Queues turns, played in order; with none left, the model says "OK.". */
  script(...turns: ScriptedTurn[]): void;
  /** Queues the `retrievalResults` of the next `Retrieve` calls (with none left: no results). */
  scriptRetrieval(...results: Array<Array<Record<string, unknown>> | { error: { status: number; type: string } }>): void;
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

function chunksOf(turn: ScriptedTurn): string[] {
  if (Array.isArray(turn.text)) return turn.text;
  if (!turn.text) return [];
  return turn.text.match(/\S+\s*/g) ?? [turn.text];
}

function stopReasonOf(turn: ScriptedTurn): string {
  return turn.stopReason ?? (turn.toolUse ? 'tool_use' : 'end_turn');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function playStream(stream: ServerHttp2Stream, turn: ScriptedTurn, toolUseId: string): Promise<void> {
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

function converseBody(turn: ScriptedTurn, toolUseId: string): Record<string, unknown> {
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

/** Starts the stand-in on 127.0.0.1. */
export async function startBedrockStandIn(): Promise<BedrockStandIn> {
  const turns: ScriptedTurn[] = [];
  const retrievals: Array<Array<Record<string, unknown>> | { error: { status: number; type: string } }> = [];
  const requests: BedrockRequest[] = [];
  let n = 0;
  const server: Http2Server = createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path'] ?? '');
    const m = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
    const parts: Buffer[] = [];
    stream.on('error', () => undefined); // an aborted stream (scripted) errors on this side too
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => {
      const kb = /^\/knowledgebases\/([^/]+)\/retrieve$/.exec(path);
      if (kb && headers[':method'] === 'POST') {
        requests.push({ operation: 'retrieve', modelId: decodeURIComponent(kb[1]), body: JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') });
        const next = retrievals.shift() ?? [];
        if (!Array.isArray(next)) {
          stream.respond({ ':status': next.error.status, 'x-amzn-errortype': next.error.type, 'content-type': 'application/json' });
          stream.end(JSON.stringify({ message: 'stand-in error' }));
          return;
        }
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ retrievalResults: next }));
        return;
      }
      if (!m || headers[':method'] !== 'POST') {
        stream.respond({ ':status': 404, 'x-amzn-errortype': 'UnknownOperationException', 'content-type': 'application/json' });
        stream.end(JSON.stringify({ message: 'unknown operation' }));
        return;
      }
      const operation = m[2] as BedrockRequest['operation'];
      requests.push({ operation, modelId: decodeURIComponent(m[1]), body: JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') });
      const turn = turns.shift() ?? { text: 'OK.' };
      const toolUseId = `tooluse_${++n}`;
      if (turn.error) {
        stream.respond({ ':status': turn.error.status, 'x-amzn-errortype': turn.error.type, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ message: 'stand-in error' }));
      } else if (operation === 'converse') {
        const delay = (turn.chunkDelayMs ?? 0) * chunksOf(turn).length;
        setTimeout(() => {
          stream.respond({ ':status': 200, 'content-type': 'application/json' });
          stream.end(JSON.stringify(converseBody(turn, toolUseId)));
        }, delay);
      } else {
        playStream(stream, turn, toolUseId).catch(() => stream.close(2));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    script: (...t) => { turns.push(...t); },
    scriptRetrieval: (...r) => { retrievals.push(...r); },
    stop: () => new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    }),
  };
}
