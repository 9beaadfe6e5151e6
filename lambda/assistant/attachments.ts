/**
 * The images and documents the user sent in Teams, as Converse `image` / `document` blocks. Where each is fetched from,
 * and with which credential (never with either to any other host):
 *
 * - an inline image whose `contentUrl` is on a Bot Connector host of the allow-list (`…/v3/attachments/{id}/views/…`):
 *   with the bot's token, through the kit (`downloadAttachment` refuses any other host before a token is sent);
 * - an image hosted in Microsoft Graph (`…/hostedContents/{id}/$value`): with the user's token, through the kit's Graph
 *   client (Graph's origin only);
 * - a file shared in the chat (`application/vnd.microsoft.teams.file.download.info`, a SharePoint / OneDrive URL): through
 *   Graph's shares API as the user (`/shares/u!{url}/driveItem/content`); Graph redirects to a pre-authenticated
 *   download URL, followed only to a SharePoint host and without any credential.
 *
 * Image type is taken from the bytes (PNG, JPEG, GIF, WebP), not from the sender's claim; documents by extension
 * (pdf, csv, doc, docx, xls, xlsx, html, txt, md). Sizes are capped while reading. What cannot be used is refused with a
 * reason the user is told; the message's own HTML and cards are not attachments the user sent and are skipped.
 */
// Handler dependencies are devDependencies (esbuild inlines them into the bundles).
// eslint-disable-next-line import/no-extraneous-dependencies
import type { ContentBlock, DocumentFormat, ImageFormat } from '@aws-sdk/client-bedrock-runtime';
import type { WorkerArgs, WorkerAttachment } from '../../kit';

/** At most this many attachments are read per message (Converse takes at most 5 documents). */
export const MAX_ATTACHMENTS = 5;
/** Largest image (Bedrock's limit: 3.75 MB). */
export const IMAGE_MAX_BYTES = 3_750_000;
/** Largest document (Bedrock's limit: 4.5 MB). */
export const DOCUMENT_MAX_BYTES = 4_500_000;
/** Hosts Graph's download redirect may go to (SharePoint / OneDrive of each cloud). */
export const DOWNLOAD_HOST_SUFFIXES = ['.sharepoint.com', '.sharepoint.us', '.sharepoint-mil.us', '.sharepoint.cn'];

const FILE_DOWNLOAD_INFO = 'application/vnd.microsoft.teams.file.download.info';
const DOCUMENT_FORMATS: Record<string, DocumentFormat> = {
  pdf: 'pdf', csv: 'csv', doc: 'doc', docx: 'docx', xls: 'xls', xlsx: 'xlsx', html: 'html', htm: 'html', txt: 'txt', md: 'md',
};
const IMAGE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'webp']);

/** An attachment that was not used, and why (told to the user and the model). */
export interface Refusal {
  name: string;
  reason: string;
}

/** The blocks for the model, and the refusals. */
export interface AttachmentResult {
  blocks: ContentBlock[];
  refused: Refusal[];
}

/** The image format of the bytes, from their signature. */
export function imageFormat(bytes: Buffer): ImageFormat | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 6 && /^GIF8[79]a$/.test(bytes.subarray(0, 6).toString('latin1'))) return 'gif';
  if (bytes.length >= 12 && bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'webp';
  return undefined;
}

function extensionOf(name: string | undefined): string {
  const m = /\.([A-Za-z0-9]{1,5})$/.exec(name ?? '');
  return m ? m[1].toLowerCase() : '';
}

/** A document name Converse accepts (letters, digits, single spaces, hyphens, parentheses, brackets). */
export function documentName(name: string | undefined, index: number): string {
  const base = (name ?? '').replace(/\.[A-Za-z0-9]{1,5}$/, '').replace(/[^A-Za-z0-9\-()[\] ]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 100);
  return `${base || 'document'} ${index + 1}`;
}

/** Graph's shares id of a sharing or item URL: `u!` + unpadded base64url. */
export function shareId(url: string): string {
  return `u!${Buffer.from(url, 'utf8').toString('base64url')}`;
}

type Plan = { kind: 'skip' } | { kind: 'refuse'; reason: string } | { kind: 'image' | 'document'; fetch: (max: number) => Promise<{ bytes: Buffer }> };

/** How one attachment would be fetched (or why not), without any request. */
function plan(args: WorkerArgs, a: WorkerAttachment): Plan {
  const type = a.contentType.toLowerCase();
  if (type === 'text/html' || type.startsWith('application/vnd.microsoft.card.') || type === 'application/vnd.microsoft.teams.card.o365connector') return { kind: 'skip' };
  const url = a.contentUrl;
  if (!url) return { kind: 'refuse', reason: 'it has no content I can download' };
  if (type === FILE_DOWNLOAD_INFO) {
    const ext = extensionOf(a.name);
    const kind = IMAGE_EXTENSIONS.has(ext) ? 'image' : DOCUMENT_FORMATS[ext] ? 'document' : undefined;
    if (!kind) return { kind: 'refuse', reason: 'this file type is not supported' };
    if (!/^https:\/\//i.test(url)) return { kind: 'refuse', reason: 'it is not a Microsoft 365 file' };
    return { kind, fetch: (max) => args.graph.download(`/v1.0/shares/${shareId(url)}/driveItem/content`, { maxBytes: max, redirectHostSuffixes: DOWNLOAD_HOST_SUFFIXES }) };
  }
  if (type.startsWith('image/')) {
    const onGraph = url.startsWith(`${args.graph.baseUrl}/`);
    return { kind: 'image', fetch: (max) => (onGraph ? args.graph.download(url, { maxBytes: max }) : args.downloadAttachment(url, max)) };
  }
  return { kind: 'refuse', reason: 'this file type is not supported' };
}

function failureReason(err: unknown, max: number): string {
  const e = err as { code?: string; name?: string };
  if (e.code === 'TooLarge') return `it is larger than ${(max / 1_000_000).toFixed(2).replace(/\.?0+$/, '')} MB`;
  if (e.code === 'ServiceUrlNotAllowed' || e.name === 'GraphUrlError') return 'it is not hosted by Teams or Microsoft Graph';
  return 'it could not be downloaded';
}

/** Fetches one planned attachment into a block, or a refusal. */
async function fetchOne(a: WorkerAttachment, p: Plan, index: number): Promise<ContentBlock | Refusal | undefined> {
  const name = a.name ?? `attachment ${index + 1}`;
  if (p.kind === 'skip') return undefined;
  if (p.kind === 'refuse') return { name, reason: p.reason };
  const max = p.kind === 'image' ? IMAGE_MAX_BYTES : DOCUMENT_MAX_BYTES;
  let bytes: Buffer;
  try {
    bytes = (await p.fetch(max)).bytes;
  } catch (err) {
    return { name, reason: failureReason(err, max) };
  }
  if (p.kind === 'image') {
    const format = imageFormat(bytes);
    return format ? { image: { format, source: { bytes } } } : { name, reason: 'it is not a PNG, JPEG, GIF or WebP image' };
  }
  const format = DOCUMENT_FORMATS[extensionOf(a.name)];
  return { document: { format, name: documentName(a.name, index), source: { bytes } } };
}

/** The user's attachments as blocks (fetched in parallel), and the ones refused. */
export async function readAttachments(args: WorkerArgs): Promise<AttachmentResult> {
  const all = args.message.attachments;
  const plans = all.map((a) => ({ a, p: plan(args, a) })).filter(({ p }) => p.kind !== 'skip');
  const outcomes = await Promise.all(plans.slice(0, MAX_ATTACHMENTS).map(({ a, p }, i) => fetchOne(a, p, i)));
  const result: AttachmentResult = { blocks: [], refused: [] };
  for (const o of outcomes) {
    if (o === undefined) continue;
    if ('reason' in o) result.refused.push(o as Refusal);
    else result.blocks.push(o);
  }
  for (const { a } of plans.slice(MAX_ATTACHMENTS)) result.refused.push({ name: a.name ?? 'attachment', reason: `only ${MAX_ATTACHMENTS} attachments are read per message` });
  if (result.refused.length > 0) args.log.info('assistant_attachments_refused', { activityId: args.message.id, count: result.refused.length });
  return result;
}

/** One line telling the user (and the model) what was not read. */
export function refusalNote(refused: readonly Refusal[]): string | undefined {
  if (refused.length === 0) return undefined;
  return `Not read: ${refused.map((r) => `${r.name.replace(/[_*`[\]]/g, '')} (${r.reason})`).join('; ')}.`;
}
