/**
 * The assistant worker: answers each Teams message with a Bedrock model (ConverseStream), streaming the answer into
 * Teams (teams-stream.ts) and calling read-only Microsoft Graph tools as the user (tools.ts). Built on the worker kit:
 * contract, KMS, exactly-once (the first streamed post marks the message answered) and the one apology.
 *
 * Failures: before anything was posted the error goes to the kit (one apology, Lambda retry); once the stream has
 * started, the stream is closed with what was streamed and the apology, and nothing is rethrown (no second answer).
 */
// Handler dependencies are devDependencies (esbuild inlines them into the bundles).
// eslint-disable-next-line import/no-extraneous-dependencies
import { BedrockAgentRuntimeClient } from '@aws-sdk/client-bedrock-agent-runtime';
// eslint-disable-next-line import/no-extraneous-dependencies
import { BedrockRuntimeClient, Message } from '@aws-sdk/client-bedrock-runtime';
// eslint-disable-next-line import/no-extraneous-dependencies
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
// eslint-disable-next-line import/no-extraneous-dependencies
import { KMSClient } from '@aws-sdk/client-kms';
import { readAttachments, refusalNote } from './attachments';
import { converseTurn } from './bedrock';
import { citationEntity } from './citations';
import { AssistantConfig, loadAssistantConfig } from './config';
import { retrieve, Source, sourcesBlock } from './knowledge-base';
import { ConversationMemory, MemoryOwner, memoryMessages, MemoryTurn } from './memory';
import { userContent } from './prompt';
import { TeamsStream } from './teams-stream';
import { runTool, ToolName, TOOLS } from './tools';
import { TypingIndicator } from './typing';
import { DEFAULT_APOLOGY, defineWorker, WorkerArgs } from '../../kit';
import { AWS_SDK_CLIENT_OPTIONS } from '../shared/aws-sdk-options';
import { loadConfig, requireConfigValue } from '../shared/config';
import { TokenCipher } from '../shared/crypto';

/** What the assistant runs with (created once per container; tests pass their own). */
export interface AssistantDeps {
  cfg: AssistantConfig;
  bedrock: BedrockRuntimeClient;
  /** Bedrock Agent Runtime, for knowledge-base retrieval (when `cfg.knowledgeBaseId` is set). */
  knowledge?: BedrockAgentRuntimeClient;
  /** The conversation memory (when `cfg.memoryTurns` > 0). */
  memory?: ConversationMemory;
}

let setup: AssistantDeps | undefined;

function once(): AssistantDeps {
  if (!setup) {
    const cfg = loadAssistantConfig();
    // Streams run long (no 3 s request timeout as for the other clients); throttling is retried with backoff, 4 attempts.
    const bedrock = new BedrockRuntimeClient({ maxAttempts: 4, region: cfg.modelRegion });
    // The knowledge base lives in the function's region.
    const knowledge = cfg.knowledgeBaseId ? new BedrockAgentRuntimeClient({ maxAttempts: 4 }) : undefined;
    setup = { cfg, bedrock, knowledge, memory: cfg.memoryTurns > 0 ? memoryFromEnv(cfg.memoryTurns) : undefined };
  }
  return setup;
}

/** The memory store on the conversation table and the bot's key (the worker's `TDAB_*` settings). */
function memoryFromEnv(turns: number): ConversationMemory {
  const config = loadConfig(process.env);
  const kms = new KMSClient(AWS_SDK_CLIENT_OPTIONS);
  return new ConversationMemory({
    ddb: new DynamoDBClient(AWS_SDK_CLIENT_OPTIONS),
    cipher: new TokenCipher({ kms, keyId: requireConfigValue(config, 'kmsKeyArn') }),
    tableName: requireConfigValue(config, 'conversationTable'),
    appId: config.appId,
    turns,
  });
}

/** Whose memory this message belongs to (none without the user's ids). */
function ownerOf(args: WorkerArgs): MemoryOwner | undefined {
  const { tenantId, aadObjectId } = args.user;
  return tenantId && aadObjectId ? { conversationId: args.conversation.conversation.id, tenantId, aadObjectId } : undefined;
}

/** What the model is given for one message, and what the answer needs afterwards. */
interface Prepared {
  messages: Message[];
  /** The remembered turns (to append this one to). */
  earlier: MemoryTurn[];
  /** The knowledge-base sources (for citations). */
  sources: Source[];
  /** The attachments that were not read, for the user (undefined: none). */
  note?: string;
}

/** The conversation for the model: the user's turn with its sources and attachments (retrieved and read in parallel). */
async function prepare(args: WorkerArgs, deps: AssistantDeps): Promise<Prepared> {
  const { cfg, knowledge, memory } = deps;
  const owner = ownerOf(args);
  const [earlier, sources, attachments] = await Promise.all([
    memory && owner ? memory.load(owner) : Promise.resolve([]),
    cfg.knowledgeBaseId && knowledge && args.text.trim() !== '' ? retrieve(knowledge, cfg.knowledgeBaseId, args.text) : Promise.resolve([]),
    args.message.attachments.length > 0 ? readAttachments(args) : Promise.resolve({ blocks: [], refused: [] }),
  ]);
  const note = refusalNote(attachments.refused);
  const content = userContent({
    question: args.text, guarded: cfg.guardrail !== undefined, sources: sourcesBlock(sources), attachments: attachments.blocks, note,
  });
  return { messages: [...memoryMessages(earlier), { role: 'user', content }], earlier, sources, note };
}

/** Answers one message (the kit calls it once per claimed message). */
export async function answer(args: WorkerArgs, deps = once()): Promise<void> {
  const { cfg, bedrock } = deps;
  const personal = args.conversation.conversation.conversationType === 'personal';
  const typing = new TypingIndicator(() => args.typing(), cfg.typingIntervalMs);
  await typing.start();
  const stream = new TeamsStream(args, personal, cfg.updateIntervalMs, () => typing.stop());
  try {
    const { messages, earlier, sources, note } = await prepare(args, deps);
    const result = await converseTurn(bedrock, cfg, messages, {
      onText: (d) => stream.append(d),
      onToolUse: (name) => stream.inform(`Looking at ${TOOLS[name as ToolName]?.label ?? name}…`),
      runTool: (name, input) => runTool(args.graph, name, input, args.conversation.conversation.id),
    });
    const citations = result.guardrailIntervened ? undefined : citationEntity(result.text, sources);
    args.log.info('assistant_answered', {
      activityId: args.message.id,
      toolCalls: result.toolCalls,
      stopReason: result.stopReason,
      guardrailIntervened: result.guardrailIntervened,
      sources: sources.length,
      citations: (citations?.citation as unknown[] | undefined)?.length ?? 0,
      ...result.usage,
    });
    const text = result.text.trim() === '' ? 'I have no answer to that.' : result.text;
    await stream.finish(note ? `${text}\n\n_${note}_` : text, citations ? [citations] : []);
    const owner = ownerOf(args);
    // A blocked exchange is not remembered (the guardrail's message is no answer to build on).
    if (deps.memory && owner && !result.guardrailIntervened) await deps.memory.append(owner, earlier, { q: args.text, a: text, at: Date.now() });
  } catch (err) {
    if (!stream.started) throw err; // nothing posted yet: the kit sends its one apology (and Lambda retries)
    args.log.error('assistant_failed_while_streaming', { activityId: args.message.id, error: err });
    const sofar = stream.sofar.trim();
    await stream.finish(sofar === '' ? DEFAULT_APOLOGY : `${sofar}\n\n_${DEFAULT_APOLOGY}_`);
  } finally {
    await typing.stop();
  }
}

/** Lambda entry point. */
export const handler = defineWorker((args) => answer(args));
