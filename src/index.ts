export * from './assistant';
export * from './bot-cloud';
export * from './log-level';
export * from './teams-delegated-auth-bot';
export * from './monitoring';
