/**
 * Example CDK app: one Teams bot with the default worker.
 *
 *   npx projen bundle            # once, in a clone: builds the handler bundles the construct ships
 *   cd examples/basic && npx cdk synth
 *
 * Consumers write `import { TeamsDelegatedAuthBot } from 'cdk-teams-delegated-auth-bot';` — this example imports the
 * package's source so that it runs from a clone without a build.
 */
import { App, Stack, StackProps } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TeamsDelegatedAuthBot } from '../../src';

/** The stack of the example: the bot and nothing else. */
export class TeamsBotStack extends Stack {
  public readonly bot: TeamsDelegatedAuthBot;

  constructor(scope: Construct, id: string, props: StackProps & { appId: string; tenantId: string }) {
    super(scope, id, props);
    this.bot = new TeamsDelegatedAuthBot(this, 'Bot', {
      appId: props.appId,
      tenantId: props.tenantId,
      graphScopes: ['User.Read'],
      logRetention: logs.RetentionDays.ONE_MONTH,
    });
  }
}

const app = new App();
new TeamsBotStack(app, 'TeamsDelegatedAuthBotExample', {
  // Your Entra app registration's Application (client) ID and Directory (tenant) ID:
  //   npx cdk synth -c appId=<guid> -c tenantId=<guid>
  appId: app.node.tryGetContext('appId') ?? '00000000-0000-0000-0000-000000000000',
  tenantId: app.node.tryGetContext('tenantId') ?? '00000000-0000-0000-0000-000000000000',
});
app.synth();
