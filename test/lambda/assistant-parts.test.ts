/**
 * The assistant's pure parts and the download guards: image typing from bytes, document names, Graph share ids,
 * citation markers, and the two downloaders' host rules (nothing is requested, and no token fetched, for a host outside
 * them).
 */
import { createServer, IncomingHttpHeaders } from 'node:http';
import { AddressInfo } from 'node:net';
import { GraphClient, GraphUrlError } from '../../kit';
import { documentName, imageFormat, refusalNote, shareId } from '../../lambda/assistant/attachments';
import { citationEntity, citedNumbers } from '../../lambda/assistant/citations';
import { BotAppTokenProvider, BotConnectorClient, BotConnectorError } from '../../lambda/shared/bot-connector';

describe('attachments', () => {
  test('image format comes from the bytes, not the claimed type', () => {
    expect(imageFormat(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1]))).toBe('png');
    expect(imageFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(imageFormat(Buffer.from('GIF89a...'))).toBe('gif');
    expect(imageFormat(Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 ')]))).toBe('webp');
    expect(imageFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(imageFormat(Buffer.from('MZ\x90\x00'))).toBeUndefined();
  });

  test('document names keep only what Converse accepts, one space at a time, numbered', () => {
    expect(documentName('Q3 report (final).pdf', 0)).toBe('Q3 report (final) 1');
    expect(documentName('a__b..c  d/e\\f.docx', 1)).toBe('a b c d e f 2');
    expect(documentName(undefined, 2)).toBe('document 3');
  });

  test('a share id is u! and unpadded base64url of the URL (Graph shares API)', () => {
    expect(shareId('https://onedrive.live.com/redir?resid=1231244193912!12&authKey=1201919!12921!1')).toBe(
      'u!aHR0cHM6Ly9vbmVkcml2ZS5saXZlLmNvbS9yZWRpcj9yZXNpZD0xMjMxMjQ0MTkzOTEyITEyJmF1dGhLZXk9MTIwMTkxOSExMjkyMSEx');
  });

  test('the refusal note names each file and reason, without markdown from the name', () => {
    expect(refusalNote([])).toBeUndefined();
    expect(refusalNote([{ name: '*x*_[y].exe', reason: 'this file type is not supported' }])).toBe('Not read: xy.exe (this file type is not supported).');
  });
});

describe('citations', () => {
  const sources = [1, 2, 3].map((n) => ({ n, title: `Doc ${n}`, text: `Passage ${n}` }));
  test('[n], [n][m] and [n, m] markers, each number once, ascending', () => {
    expect(citedNumbers('A [2]. B [1][3]. C [3, 2]. Not [x] nor [100].')).toEqual([1, 2, 3]);
    expect(citedNumbers('none')).toEqual([]);
  });
  test('only cited, existing sources become claims; none cited: no entity', () => {
    expect(citationEntity('nothing cited', sources)).toBeUndefined();
    expect(citationEntity('only [7]', sources)).toBeUndefined();
    const e = citationEntity('see [3] and [9]', sources) as { citation: Array<{ position: number }> };
    expect(e.citation.map((c) => c.position)).toEqual([3]);
  });
  test('name at most 80 and abstract at most 160 characters', () => {
    const e = citationEntity('[1]', [{ n: 1, title: 't'.repeat(200), text: 'a'.repeat(500) }]) as any;
    expect(Array.from(e.citation[0].appearance.name as string)).toHaveLength(80);
    expect(Array.from(e.citation[0].appearance.abstract as string)).toHaveLength(160);
  });
});

describe('download guards', () => {
  async function server(status: number, headers: Record<string, string>): Promise<{ url: string; seen: IncomingHttpHeaders[]; close(): void }> {
    const seen: IncomingHttpHeaders[] = [];
    const s = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(status, headers);
      res.end('bytes');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen, close: () => s.close() };
  }

  test('Graph download: a redirect off SharePoint is refused without a request; to a SharePoint host it carries no token', async () => {
    const graph = await server(302, { location: 'https://evil.example.com/steal' });
    try {
      const client = new GraphClient({ baseUrl: graph.url, token: 'user-token' });
      await expect(client.download('/v1.0/shares/u!x/driveItem/content', { maxBytes: 100, redirectHostSuffixes: ['.sharepoint.com'] })).rejects.toBeInstanceOf(GraphUrlError);
      expect(graph.seen).toHaveLength(1);
      expect(graph.seen[0].authorization).toBe('Bearer user-token');
      await expect(client.download('https://evil.example.com/x', { maxBytes: 100 })).rejects.toBeInstanceOf(GraphUrlError);
      expect(graph.seen).toHaveLength(1);
    } finally {
      graph.close();
    }
  });

  test('Graph download: a lookalike SharePoint host is refused', async () => {
    const graph = await server(302, { location: 'https://contoso.sharepoint.com.evil.example/x' });
    try {
      const client = new GraphClient({ baseUrl: graph.url, token: 'user-token' });
      await expect(client.download('/v1.0/x/content', { maxBytes: 100, redirectHostSuffixes: ['.sharepoint.com'] })).rejects.toBeInstanceOf(GraphUrlError);
    } finally {
      graph.close();
    }
  });

  test('Graph download: more than maxBytes fails as TooLarge', async () => {
    const graph = await server(200, { 'content-type': 'application/pdf' });
    try {
      const client = new GraphClient({ baseUrl: graph.url, token: 'user-token' });
      await expect(client.download('/v1.0/x/content', { maxBytes: 3 })).rejects.toMatchObject({ name: 'GraphError', code: 'TooLarge' });
      await expect(client.download('/v1.0/x/content', { maxBytes: 5 })).resolves.toEqual({ bytes: Buffer.from('bytes'), contentType: 'application/pdf' });
    } finally {
      graph.close();
    }
  });

  test('Bot Connector attachment: a URL outside the allow-list is refused before a token is fetched', async () => {
    const foreign = await server(200, {});
    let tokenFetches = 0;
    const tokens = { getToken: async () => { tokenFetches++; return 'bot-token'; }, invalidate: () => undefined } as unknown as BotAppTokenProvider;
    try {
      const client = new BotConnectorClient({ tokens, serviceUrlHosts: ['smba.trafficmanager.net'] });
      await expect(client.downloadAttachment(`${foreign.url}/v3/attachments/a/views/original`, 100)).rejects.toMatchObject({ code: 'ServiceUrlNotAllowed' });
      await expect(client.downloadAttachment('https://smba.trafficmanager.net.evil.example/v3/attachments/a/views/original', 100)).rejects.toBeInstanceOf(BotConnectorError);
      expect(tokenFetches).toBe(0);
      expect(foreign.seen).toEqual([]);
      // allowed: the bot token is presented
      const allowed = new BotConnectorClient({ tokens, serviceUrlHosts: [foreign.url] });
      await expect(allowed.downloadAttachment(`${foreign.url}/v3/attachments/a/views/original`, 100)).resolves.toMatchObject({ bytes: Buffer.from('bytes') });
      expect(foreign.seen[0].authorization).toBe('Bearer bot-token');
    } finally {
      foreign.close();
    }
  });
});
