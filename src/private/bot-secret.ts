/**
 * Shape of the bot's Secrets Manager secret, shared by the construct (which creates it) and the handlers (which read
 * it). Pure data, no CDK import: `lambda/` may import it.
 *
 * The secret string is a JSON object: `{"clientSecret": "<the Entra app registration's client secret>"}`.
 */
export const BOT_SECRET_FIELD = 'clientSecret';

/**
 * Value the construct writes into a secret it creates. NEVER CHANGE IT: the value is a template property of the
 * secret, so a different placeholder in a new version would make CloudFormation overwrite the client secret the
 * operator stored. (test/construct/resources.test.ts pins it.)
 * It is not a valid Entra client secret: a handler that reads it
 * must fail with a message telling the operator to store the real one (`aws secretsmanager put-secret-value`).
 */
export const BOT_SECRET_PLACEHOLDER = 'REPLACE_ME: aws secretsmanager put-secret-value --secret-id <TDAB_SECRET_ARN> --secret-string \'{"clientSecret":"..."}\'';

/** True when `value` is the placeholder the construct wrote (the operator has not stored the client secret yet). */
export function isBotSecretPlaceholder(value: string | undefined): boolean {
  return value === undefined || value === '' || value.startsWith('REPLACE_ME');
}
