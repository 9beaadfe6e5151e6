/**
 * The user's turn as Converse content blocks: retrieved sources and attachments first, the question last. With a
 * guardrail configured, the question is a `guardContent` block, so the guardrail's input policies (prompt attack,
 * denied topics, filters) judge what the user wrote; tool results, sources and earlier turns are data the model reads
 * and the guardrail judges the answer made from them (output policies).
 */
// Handler dependencies are devDependencies (esbuild inlines them into the bundles).
// eslint-disable-next-line import/no-extraneous-dependencies
import type { ContentBlock } from '@aws-sdk/client-bedrock-runtime';

/** Text given to the model when the user sent only attachments (or nothing readable). */
export const NO_TEXT = '(no text)';

/** What the user's turn is made of. */
export interface UserTurn {
  question: string;
  /** True when a guardrail is configured. */
  guarded: boolean;
  /** Numbered sources (knowledge base), rendered as data before the question. */
  sources?: string;
  /** Image and document blocks of the user's attachments. */
  attachments?: ContentBlock[];
  /** Attachments that could not be read (so the model does not pretend it saw them). */
  note?: string;
}

/** The content blocks of the user's message to the model. */
export function userContent(turn: UserTurn): ContentBlock[] {
  const blocks: ContentBlock[] = [];
  if (turn.sources) blocks.push({ text: turn.sources });
  blocks.push(...(turn.attachments ?? []));
  if (turn.note) blocks.push({ text: `(The user attached files that were not read. ${turn.note})` });
  const question = turn.question.trim() === '' ? NO_TEXT : turn.question;
  blocks.push(turn.guarded ? { guardContent: { text: { text: question } } } : { text: question });
  return blocks;
}
