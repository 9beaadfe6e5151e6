/**
 * A local stand-in for the Bot Framework token issuer: an HTTP server on 127.0.0.1 that serves OpenID metadata and a
 * JWKS (keys with `endorsements`), and signs Bot Connector → bot JWTs with jose, including deliberately broken ones
 * (unknown kid, foreign key, other algorithms, `alg: none`, HS256 keyed with the public key, extra header fields such
 * as `crit`).
 */
import { createHmac, generateKeyPairSync, KeyObject } from 'node:crypto';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';

/** The public-cloud issuer of Bot Connector tokens (also botframework-connector's expected value). */
export const BOT_FRAMEWORK_ISSUER = 'https://api.botframework.com';

/** Options of {@link startBotFrameworkIdentity}. */
export interface BotFrameworkIdentityOptions {
  /** `iss` of signed tokens and `issuer` of the metadata (default https://api.botframework.com). */
  issuer?: string;
  /** `id_token_signing_alg_values_supported` (default `['RS256']`). */
  algorithms?: string[];
  /** Endorsements of generated keys (default `['msteams', 'webchat', 'directline']`). */
  endorsements?: string[];
  /** Delay before every answer, in ms (default 0): makes concurrent fetches overlap. */
  delayMs?: number;
}

/** Options of one {@link BotFrameworkIdentity.sign} call. */
export interface SignOptions {
  /**
   * Header `kid`. A kid of a published key signs with that key; any other value signs with the current key under an
   * unknown kid. Default: the current key's kid.
   */
  kid?: string;
  /** Algorithm (default RS256). `none` gives an unsigned token; `HS*` is keyed with the current public key's PEM. */
  alg?: string;
  /** Extra protected-header fields (e.g. `{ crit: ['exp-ext'], 'exp-ext': 1 }`), or `typ`; `undefined` removes one. */
  header?: Record<string, unknown>;
  /** `foreign`: sign with a key that is not published (wrong key, kid of the current key). */
  key?: 'published' | 'foreign';
  /** Omit the `kid` header entirely. */
  noKid?: boolean;
}

/** A running identity. */
export interface BotFrameworkIdentity {
  /** URL of the OpenID metadata document. */
  metadataUrl: string;
  /** URL of the JWKS. */
  jwksUrl: string;
  /** The issuer. */
  issuer: string;
  /** Requests served so far (failures included). */
  requests: { metadata: number; jwks: number };
  /**
   * Signs a token. Defaults fill `iss` (the issuer), `iat`/`nbf` (now) and `exp` (now + 1 h) unless `claims` names
   * them; a claim given as `undefined` is left out (e.g. `{ exp: undefined }` for a token without `exp`).
   */
  sign(claims: Record<string, unknown>, opts?: SignOptions): Promise<string>;
  /** Generates a new current key (published from now on); returns its kid. Keeps older keys unless told not to. */
  rotateKey(opts?: { keepPrevious?: boolean }): string;
  /** Publishes one more key (e.g. with other endorsements, or `null` for none) without making it current. */
  addKey(opts?: { kid?: string; endorsements?: string[] | null; alg?: string }): string;
  /** kid of the current signing key. */
  currentKid(): string;
  /** Changes the advertised algorithms. */
  setAlgorithms(algs: string[]): void;
  /** Makes the metadata and JWKS endpoints answer `status` (e.g. 503) until reset with `undefined`. */
  setFailure(status: number | undefined): void;
  /** Changes the answer delay. */
  setDelay(ms: number): void;
  /** Stops the server. */
  stop(): Promise<void>;
}

interface KeyEntry {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  endorsements: string[] | null;
  alg?: string;
}

function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

let kidCounter = 0;
function newKey(endorsements: string[] | null, kid?: string, alg?: string): KeyEntry {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  kidCounter += 1;
  return { kid: kid ?? `test-key-${process.pid}-${kidCounter}-${Date.now().toString(36)}`, privateKey, publicKey, endorsements, alg };
}

/** Starts the identity on a free port of 127.0.0.1. */
export async function startBotFrameworkIdentity(opts: BotFrameworkIdentityOptions = {}): Promise<BotFrameworkIdentity> {
  const issuer = opts.issuer ?? BOT_FRAMEWORK_ISSUER;
  const defaultEndorsements = opts.endorsements ?? ['msteams', 'webchat', 'directline'];
  let algorithms = opts.algorithms ?? ['RS256'];
  let delayMs = opts.delayMs ?? 0;
  let failure: number | undefined;
  const keys: KeyEntry[] = [newKey(defaultEndorsements)];
  let current = keys[0];
  const foreign = newKey(defaultEndorsements);
  const requests = { metadata: 0, jwks: 0 };
  let base = '';

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const answer = (status: number, body: unknown): void => {
      const send = (): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    };
    if (req.method !== 'GET') return answer(405, { error: 'method' });
    if (path === '/v1/.well-known/openidconfiguration') {
      requests.metadata += 1;
      if (failure !== undefined) return answer(failure, { error: 'unavailable' });
      return answer(200, {
        issuer,
        authorization_endpoint: `${base}/v1/authorize`,
        jwks_uri: `${base}/v1/.well-known/keys`,
        id_token_signing_alg_values_supported: algorithms,
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
      });
    }
    if (path === '/v1/.well-known/keys') {
      requests.jwks += 1;
      if (failure !== undefined) return answer(failure, { error: 'unavailable' });
      return answer(200, {
        keys: keys.map((k) => {
          const jwk = k.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
          const out: Record<string, unknown> = { kty: 'RSA', use: 'sig', kid: k.kid, n: jwk.n, e: jwk.e };
          if (k.alg) out.alg = k.alg;
          if (k.endorsements !== null) out.endorsements = k.endorsements;
          return out;
        }),
      });
    }
    return answer(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function sign(claims: Record<string, unknown>, so: SignOptions = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = { iss: issuer, iat: now, nbf: now, exp: now + 3600 };
    for (const [k, v] of Object.entries(claims)) {
      if (v === undefined) delete payload[k];
      else payload[k] = v;
    }
    const alg = so.alg ?? 'RS256';
    const published = so.kid !== undefined ? keys.find((k) => k.kid === so.kid) : current;
    const entry = so.key === 'foreign' ? foreign : published ?? current;
    const header: Record<string, unknown> = { alg, typ: 'JWT' };
    if (!so.noKid) header.kid = so.kid ?? current.kid;
    for (const [k, v] of Object.entries(so.header ?? {})) {
      if (v === undefined) delete header[k];
      else header[k] = v;
    }
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    if (alg === 'none') return `${signingInput}.`;
    if (/^HS(256|384|512)$/.test(alg)) {
      // The classic key-confusion forgery: HMAC keyed with the verifier's RSA public key (PEM).
      const secret = entry.publicKey.export({ format: 'pem', type: 'spki' });
      const mac = createHmac(`sha${alg.slice(2)}`, secret).update(signingInput).digest();
      return `${signingInput}.${b64url(mac)}`;
    }
    const crit = Array.isArray(header.crit) ? Object.fromEntries((header.crit as string[]).map((c) => [c, true])) : undefined;
    const jwt = new SignJWT(payload).setProtectedHeader(header as { alg: string });
    return jwt.sign(entry.privateKey, crit ? { crit } : undefined);
  }

  return {
    metadataUrl: `${base}/v1/.well-known/openidconfiguration`,
    jwksUrl: `${base}/v1/.well-known/keys`,
    issuer,
    sign,
    rotateKey(ro = {}) {
      const k = newKey(defaultEndorsements);
      if (ro.keepPrevious === false) keys.splice(0, keys.length);
      keys.push(k);
      current = k;
      return k.kid;
    },
    addKey(ao = {}) {
      const k = newKey(ao.endorsements === undefined ? defaultEndorsements : ao.endorsements, ao.kid, ao.alg);
      keys.push(k);
      return k.kid;
    },
    currentKid: () => current.kid,
    setAlgorithms(algs) {
      algorithms = [...algs];
    },
    setFailure(status) {
      failure = status;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
