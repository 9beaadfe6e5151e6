/**
 * The default worker: shows that delegated access works. For each user message it sends a typing indicator, reads the
 * user's profile from Microsoft Graph (`GET /v1.0/me`) with the user's own token, and replies in the thread of the
 * message with the display name Graph returned and what the user asked. Built on the worker kit, which handles the
 * contract, KMS decryption, exactly-once replies and the one apology on failure.
 */
import { defineWorker, quote } from '../../kit';

/** The reply text (plain text: the user's words are quoted, never interpreted as markup). */
export function replyText(displayName: string | undefined, userText: string | undefined, hasAttachments: boolean): string {
  const name = displayName && displayName.trim() !== '' ? Array.from(displayName.trim()).slice(0, 100).join('') : 'there';
  const asked = userText && userText.trim() !== ''
    ? `You asked: ${quote(userText)}`
    : hasAttachments ? 'You sent an attachment without text.' : 'Your message had no text.';
  return `Hi ${name}! I read your Microsoft Graph profile as you, so delegated access works.\n${asked}`;
}

/** Lambda entry point. */
export const handler = defineWorker(async ({ message, graph, reply, typing }) => {
  await typing();
  const me = await graph.me(['id', 'displayName']);
  await reply({
    type: 'message',
    textFormat: 'plain',
    text: replyText(me.displayName, message.text, message.attachments.length > 0),
  });
});
