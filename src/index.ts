export * from './bot-cloud';
export * from './teams-delegated-auth-bot';
