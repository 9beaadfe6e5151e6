import * as fs from 'fs';
import * as path from 'path';
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { BotLogGroups } from './log-groups';
import { ResolvedBotProps, ResolvedFunctionSize } from './resolve-props';
import { BotLogLevel } from '../log-level';

const APPLICATION_LOG_LEVEL: Record<BotLogLevel, lambda.ApplicationLogLevel> = {
  [BotLogLevel.DEBUG]: lambda.ApplicationLogLevel.DEBUG,
  [BotLogLevel.INFO]: lambda.ApplicationLogLevel.INFO,
  [BotLogLevel.WARN]: lambda.ApplicationLogLevel.WARN,
  [BotLogLevel.ERROR]: lambda.ApplicationLogLevel.ERROR,
};

/** One of the construct's own functions: its construct id (also the prefix of its log group and role) and bundle. */
export interface BotFunctionOptions {
  /** `Receiver` or `Worker`: the ids are `{id}`, `{id}Logs` and `{id}Role`. */
  readonly id: string;
  /** Name of the handler bundle under `assets/lambda/`. */
  readonly bundle: string;
  readonly description: string;
  readonly roleDescription: string;
  readonly size: ResolvedFunctionSize;
  readonly environment: { [name: string]: string };
  /** Reserved concurrency; undefined: none. */
  readonly reservedConcurrency?: number;
  /** Where its log group comes from. */
  readonly logGroups: BotLogGroups;
}

/** A function of the construct with its own log group (retention, removal policy) and its own role (no managed policy). */
export interface BotFunction {
  readonly fn: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
}

/** Node.js 24 on arm64, the prebundled handler, an explicit log group and role, tracing from the props. */
export function createBotFunction(scope: Construct, config: ResolvedBotProps, options: BotFunctionOptions): BotFunction {
  const logGroup = options.logGroups.create(`${options.id}Logs`, options.bundle);
  const role = new iam.Role(scope, `${options.id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: options.roleDescription,
  });
  logGroup.grantWrite(role);
  const fn = new lambda.Function(scope, options.id, {
    description: options.description,
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    handler: 'index.handler',
    code: handlerCode(scope, options.bundle),
    role,
    logGroup,
    memorySize: options.size.memorySize,
    timeout: options.size.timeout,
    environment: options.environment,
    tracing: config.tracing,
    reservedConcurrentExecutions: options.reservedConcurrency,
    // Lambda's JSON log format: its own lines (START, REPORT) are JSON too; the handlers write JSON lines themselves.
    loggingFormat: lambda.LoggingFormat.JSON,
    applicationLogLevelV2: APPLICATION_LOG_LEVEL[config.logLevel],
  });
  if (config.tracing !== lambda.Tracing.DISABLED) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Added by Lambda tracing (props.tracing): xray:PutTraceSegments and xray:PutTelemetryRecords support no ' +
        'resource-level permissions, so AWS requires Resource "*". Every other statement of this role names its resources.',
    });
  }
  return { fn, role, logGroup };
}

/** The prebundled handler (built by projen at pre-compile, shipped in the npm package under assets/). */
function handlerCode(scope: Construct, name: string): lambda.Code {
  const dir = path.join(__dirname, '..', '..', 'assets', 'lambda', name, 'index');
  if (!fs.existsSync(path.join(dir, 'index.js'))) {
    throw new Error(`${scope.node.path}: the ${name} handler bundle is missing at ${dir}/index.js. ` +
      'In a clone of the repository, run `npx projen bundle` (or `npx projen build`); an installed package ships it.');
  }
  return lambda.Code.fromAsset(dir, { exclude: ['*.meta.json'] });
}
