import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import {
  formBody, HttpBodyError, HttpNetworkError, httpRequest, HttpTimeoutError, isTransientHttpError,
} from '../../lambda/shared/http';
import { setLogSink } from '../../lambda/shared/log';

let server: http.Server;
let base: string;
const seen: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }> = [];
const lines: string[] = [];

beforeAll(async () => {
  setLogSink((l) => lines.push(l));
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/json') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-test': 'yes' });
        res.end(JSON.stringify({ ok: true, echo: body }));
      } else if (u.pathname === '/slow-headers') {
        setTimeout(() => res.end('late'), 1000);
      } else if (u.pathname === '/slow-body') {
        res.writeHead(200);
        res.write('partial');
        setTimeout(() => res.end('rest'), 1000);
      } else if (u.pathname === '/redirect') {
        res.writeHead(302, { location: '/json' });
        res.end();
      } else if (u.pathname === '/big') {
        res.writeHead(200);
        res.end('x'.repeat(2048));
      } else if (u.pathname === '/status') {
        res.writeHead(503, { 'retry-after': '2' });
        res.end('not json');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  setLogSink(undefined);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('httpRequest', () => {
  test('sends method, headers and body; returns status, headers, text, json', async () => {
    const res = await httpRequest(`${base}/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-h': '1' },
      body: formBody({ a: '1', b: 'x y&z', skip: undefined }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-test')).toBe('yes');
    expect(res.json()).toEqual({ ok: true, echo: 'a=1&b=x+y%26z' });
    expect(JSON.parse(res.text).ok).toBe(true);
    const last = seen[seen.length - 1];
    expect(last.method).toBe('POST');
    expect(last.headers['x-h']).toBe('1');
  });

  test('any status is returned; invalid JSON is an HttpBodyError without the body', async () => {
    const res = await httpRequest(`${base}/status?code=SECRET`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    let err: unknown;
    try {
      res.json();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpBodyError);
    expect((err as Error).message).not.toContain('not json');
    expect((err as Error).message).not.toContain('SECRET');
    expect((err as HttpBodyError).status).toBe(503);
  });

  test('times out waiting for headers (HttpTimeoutError, query not echoed)', async () => {
    const t0 = Date.now();
    const p = httpRequest(`${base}/slow-headers?code=SECRET`, { timeoutMs: 150 });
    await expect(p).rejects.toBeInstanceOf(HttpTimeoutError);
    await p.catch((e: HttpTimeoutError) => {
      expect(e.timeoutMs).toBe(150);
      expect(e.message).not.toContain('SECRET');
      expect(isTransientHttpError(e)).toBe(true);
    });
    expect(Date.now() - t0).toBeLessThan(900);
  });

  test('the timeout covers the body too', async () => {
    await expect(httpRequest(`${base}/slow-body`, { timeoutMs: 200 })).rejects.toBeInstanceOf(HttpTimeoutError);
  });

  test('default timeout is 5 s', async () => {
    const spy = jest.spyOn(global, 'setTimeout');
    try {
      await httpRequest(`${base}/json`);
      const delays = spy.mock.calls.map((c) => c[1] as number);
      expect(delays.some((d) => d > 4900 && d <= 5000)).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  test('redirects are not followed by default', async () => {
    const res = await httpRequest(`${base}/redirect`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/json');
    const followed = await httpRequest(`${base}/redirect`, { redirect: 'follow' });
    expect(followed.status).toBe(200);
  });

  test('response size limit', async () => {
    await expect(httpRequest(`${base}/big`, { maxResponseBytes: 1000 })).rejects.toBeInstanceOf(HttpBodyError);
    expect((await httpRequest(`${base}/big`, { maxResponseBytes: 4096 })).text).toHaveLength(2048);
  });

  test('connection refused is an HttpNetworkError with its code', async () => {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    const p = httpRequest(`http://127.0.0.1:${port}/x`, { timeoutMs: 2000 });
    await expect(p).rejects.toBeInstanceOf(HttpNetworkError);
    await p.catch((e: HttpNetworkError) => expect(e.code).toBe('ECONNREFUSED'));
  });

  test('never logs bodies (logs nothing at all)', () => {
    expect(lines).toEqual([]);
  });
});

describe('formBody', () => {
  test('encodes fields and skips undefined', () => {
    expect(formBody({ grant_type: 'client_credentials', scope: 'https://api.botframework.com/.default', x: undefined }))
      .toBe('grant_type=client_credentials&scope=https%3A%2F%2Fapi.botframework.com%2F.default');
  });
});
