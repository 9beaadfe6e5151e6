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
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { converseTurn } from './bedrock';
import { AssistantConfig, loadAssistantConfig } from './config';
import { userContent } from './prompt';
import { TeamsStream } from './teams-stream';
import { runTool, ToolName, TOOLS } from './tools';
import { TypingIndicator } from './typing';
import { DEFAULT_APOLOGY, defineWorker, WorkerArgs } from '../../kit';

let setup: { cfg: AssistantConfig; bedrock: BedrockRuntimeClient } | undefined;

function once(): { cfg: AssistantConfig; bedrock: BedrockRuntimeClient } {
  if (!setup) {
    const cfg = loadAssistantConfig();
    // Streams run long (no 3 s request timeout as for the other clients); throttling is retried with backoff, 4 attempts.
    const bedrock = new BedrockRuntimeClient({ maxAttempts: 4, region: cfg.modelRegion });
    setup = { cfg, bedrock };
  }
  return setup;
}

/** Answers one message (the kit calls it once per claimed message). */
export async function answer(args: WorkerArgs, deps = once()): Promise<void> {
  const { cfg, bedrock } = deps;
  const personal = args.conversation.conversation.conversationType === 'personal';
  const typing = new TypingIndicator(() => args.typing(), cfg.typingIntervalMs);
  await typing.start();
  const stream = new TeamsStream(args, personal, cfg.updateIntervalMs, () => typing.stop());
  try {
    const content = userContent({ question: args.text, guarded: cfg.guardrail !== undefined });
    const result = await converseTurn(bedrock, cfg, [{ role: 'user', content }], {
      onText: (d) => stream.append(d),
      onToolUse: (name) => stream.inform(`Looking at ${TOOLS[name as ToolName]?.label ?? name}…`),
      runTool: (name, input) => runTool(args.graph, name, input, args.conversation.conversation.id),
    });
    args.log.info('assistant_answered', {
      activityId: args.message.id,
      toolCalls: result.toolCalls,
      stopReason: result.stopReason,
      guardrailIntervened: result.guardrailIntervened,
      ...result.usage,
    });
    await stream.finish(result.text.trim() === '' ? 'I have no answer to that.' : result.text);
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
