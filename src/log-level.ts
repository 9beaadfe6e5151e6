/** Log level of the handlers' structured JSON logs. */
export enum BotLogLevel {
  /** Everything, including per-request details (never tokens, codes or message text). */
  DEBUG = 'debug',
  /** Normal operation. */
  INFO = 'info',
  /** Problems the bot recovered from. */
  WARN = 'warn',
  /** Failures only. */
  ERROR = 'error',
}
