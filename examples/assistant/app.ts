/**
 * Example CDK app: one Teams bot whose worker is the assistant (Amazon Bedrock, streamed into Teams, read-only Graph
 * tools as the user; docs/assistant.md).
 *
 *   npx projen bundle            # once, in a clone: builds the handler bundles the construct ships
 *   cd examples/assistant && npx cdk synth -c appId=<guid> -c tenantId=<guid> [-c modelId=<model or profile id>]
 *
 * Enable the model in the Bedrock console (Model access) in the regions of the inference profile before deploying.
 * Consumers write `import { AssistantTool, TeamsDelegatedAuthBot } from 'cdk-teams-delegated-auth-bot';` — this
 * example imports the package's source so that it runs from a clone without a build.
 */
import { App, Stack, StackProps } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AssistantTool, TeamsDelegatedAuthBot } from '../../src';

/** The stack of the example: the bot with the assistant worker, and nothing else. */
export class TeamsAssistantStack extends Stack {
  public readonly bot: TeamsDelegatedAuthBot;

  constructor(scope: Construct, id: string, props: StackProps & { appId: string; tenantId: string; modelId: string }) {
    super(scope, id, props);
    this.bot = new TeamsDelegatedAuthBot(this, 'Bot', {
      appId: props.appId,
      tenantId: props.tenantId,
      // The tools' delegated scopes (Calendars.Read, Mail.Read) are added to these by the construct.
      graphScopes: ['User.Read'],
      logRetention: logs.RetentionDays.ONE_MONTH,
      assistant: {
        modelId: props.modelId,
        tools: [AssistantTool.PROFILE, AssistantTool.CALENDAR, AssistantTool.MAIL],
        memoryTurns: 10,
      },
    });
  }
}

const app = new App();
new TeamsAssistantStack(app, 'TeamsDelegatedAuthBotAssistantExample', {
  // Your Entra app registration's Application (client) ID and Directory (tenant) ID:
  //   npx cdk synth -c appId=<guid> -c tenantId=<guid>
  appId: app.node.tryGetContext('appId') ?? '00000000-0000-0000-0000-000000000000',
  tenantId: app.node.tryGetContext('tenantId') ?? '00000000-0000-0000-0000-000000000000',
  // A cross-region inference profile (US regions); any model id, profile id or ARN the construct accepts.
  modelId: app.node.tryGetContext('modelId') ?? 'us.anthropic.claude-3-5-haiku-20241022-v1:0',
});
app.synth();
