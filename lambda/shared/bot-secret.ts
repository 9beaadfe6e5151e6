/**
 * The bot's client secret, read from Secrets Manager: one reader for the receiver and the worker kit.
 *
 * The secret string is `{"clientSecret": "<the Entra app registration's client secret>"}` (src/private/bot-secret.ts).
 * A value that is not such an object, or still a placeholder, is refused with a {@link ConfigurationError} and the
 * error log `client_secret_placeholder` naming `TDAB_SECRET_ARN` and the secret's ARN (never the value).
 *
 * Cache policy: a value read successfully is reused for {@link SECRET_CACHE_MS} (a rotated secret is picked up within
 * that time); failures are not cached (an administrator storing the real secret takes effect at the next read).
 * Concurrent reads share one `GetSecretValue`.
 */
// Handler dependencies are devDependencies: esbuild inlines them into the bundle.
// eslint-disable-next-line import/no-extraneous-dependencies
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError } from './config';
import { log } from './log';
import { BOT_SECRET_FIELD, isBotSecretPlaceholder } from '../../src/private/bot-secret';
import { ENV } from '../../src/private/env';

/** Re-exported: the one configuration error class lives in config.ts. */
export { ConfigurationError };

/** How long a fetched client secret is reused before it is read again (rotation picks up within this time). */
export const SECRET_CACHE_MS = 60 * 60 * 1000;

/** Values of `clientSecret` that mark a secret the construct created but nobody filled in. */
const PLACEHOLDER = /^(|\s+|placeholder|replace[-_ ]?me|change[-_ ]?me|todo|<.*>|.*(replace|placeholder|changeme|change[-_]me).*)$/i;

/**
 * True if a parsed Secrets Manager secret value is not a usable `{"clientSecret": "..."}`: missing or empty, the
 * placeholder the construct writes (`BOT_SECRET_PLACEHOLDER`, `REPLACE_ME: …`), or an obvious hand-written placeholder.
 */
export function isPlaceholderSecret(parsed: unknown): boolean {
  if (typeof parsed !== 'object' || parsed === null) return true;
  const rec = parsed as Record<string, unknown>;
  if (rec.placeholder === true) return true;
  const value = rec[BOT_SECRET_FIELD];
  return typeof value !== 'string' || isBotSecretPlaceholder(value) || PLACEHOLDER.test(value);
}

/** Options of {@link botSecretReader}. */
export interface BotSecretReaderOptions {
  /** Clock, epoch milliseconds (default `Date.now`). */
  readonly now?: () => number;
}

/**
 * Returns a cached reader of the bot's client secret (see the module documentation for the cache policy). The reader
 * rejects with {@link ConfigurationError} when `secretArn` is not configured or the secret is not usable; errors of
 * Secrets Manager itself are passed through. No I/O until the reader is first called.
 */
export function botSecretReader(
  secrets: SecretsManagerClient,
  secretArn: string | undefined,
  options: BotSecretReaderOptions = {},
): () => Promise<string> {
  const now = options.now ?? Date.now;
  let cached: { value: string; at: number } | undefined;
  let inflight: Promise<string> | undefined;
  const read = async (): Promise<string> => {
    if (!secretArn) throw new ConfigurationError('the bot secret ARN is not configured');
    const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
    let parsed: unknown;
    try {
      parsed = JSON.parse(out.SecretString ?? '');
    } catch {
      parsed = undefined;
    }
    if (isPlaceholderSecret(parsed)) {
      log.error('client_secret_placeholder', {
        reason: 'the bot secret does not hold {"clientSecret": "<the Entra app client secret>"} yet: put the client secret of the Entra app registration into it',
        variable: ENV.SECRET_ARN,
        resourceArn: secretArn,
      });
      throw new ConfigurationError('the bot client secret has not been set');
    }
    return (parsed as Record<string, string>)[BOT_SECRET_FIELD];
  };
  return async () => {
    if (cached && now() - cached.at < SECRET_CACHE_MS) return cached.value;
    if (!inflight) {
      inflight = read().then((value) => {
        cached = { value, at: now() };
        return value;
      }).finally(() => {
        inflight = undefined;
      });
    }
    return inflight;
  };
}
