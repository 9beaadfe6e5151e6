import { Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { BotLogGroups } from './log-groups';

/** The SSM parameter that carries the receiver's base URL: a fixed name, so nothing references the function URL. */
export interface BaseUrlParameter {
  readonly name: string;
  /** Built with `Stack.formatArn` from the name (no reference to the parameter resource). */
  readonly arn: string;
}

/**
 * `/tdab/<stack name>/<construct path below the stack, '/' as '.'>/<leaf>`, characters safe for SSM parameter and
 * log group names: a fixed name other resources can reference without a reference to the named resource.
 */
export function fixedNameOf(scope: Construct, leaf: string): string {
  const stack = Stack.of(scope);
  const stackPath = stack.node.path;
  const relative = scope.node.path.startsWith(stackPath + '/') ? scope.node.path.slice(stackPath.length + 1) : scope.node.id;
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '-');
  return `/tdab/${Token.isUnresolved(stack.stackName) ? stack.stackName : safe(stack.stackName)}/${safe(relative.replace(/\//g, '.'))}/${leaf}`;
}

/** The base-URL parameter, `/tdab/<stack name>/<construct path>/base-url`. */
export function baseUrlParameterOf(scope: Construct): BaseUrlParameter {
  const name = fixedNameOf(scope, 'base-url');
  return { name, arn: Stack.of(scope).formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) }) };
}

/** A function URL is `https://<id>.lambda-url.<region>.on.aws/`: keep the host, drop the trailing slash. */
export function baseUrlOfFunctionUrl(functionUrl: string): string {
  return Fn.join('', ['https://', Fn.select(2, Fn.split('/', functionUrl))]);
}

/** Base URL (no trailing slash) + path (leading slash): exactly one `/` between them. */
export function joinUrl(base: string, routePath: string): string {
  return Token.isUnresolved(base) ? Fn.join('', [base, routePath]) : `${base}${routePath}`;
}

/** What the base-URL custom resource writes, and where the log group it may create comes from. */
export interface BaseUrlResourceOptions {
  readonly parameter: BaseUrlParameter;
  readonly baseUrl: string;
  readonly logGroups: BotLogGroups;
}

/**
 * Puts the base URL (from the function URL) into the fixed-name SSM parameter after the URL exists; deletes the
 * parameter with the stack. Updates overwrite it, so there is no drift.
 */
export function createBaseUrlResource(scope: Construct, options: BaseUrlResourceOptions): void {
  const stack = Stack.of(scope);
  const providerId = 'AWS' + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '');
  // AwsCustomResource shares one provider function per stack; only its first creator chooses its role and logs.
  const providerExists = stack.node.tryFindChild(providerId) !== undefined;
  let role: iam.Role | undefined;
  let logGroup: logs.LogGroup | undefined;
  if (!providerExists) {
    logGroup = options.logGroups.create('BaseUrlProviderLogs', 'base-url-provider');
    role = new iam.Role(scope, 'BaseUrlProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Provider of AwsCustomResource: writes the Teams bot base URL parameter',
    });
    logGroup.grantWrite(role);
  }
  const { name, arn } = options.parameter;
  const put: cr.AwsSdkCall = {
    service: 'SSM',
    action: 'putParameter',
    parameters: {
      Name: name,
      Value: options.baseUrl,
      Type: 'String',
      Overwrite: true,
      Description: `Public base URL of the Teams bot ${scope.node.path} (written by CloudFormation)`,
    },
    physicalResourceId: cr.PhysicalResourceId.of(name),
  };
  new cr.AwsCustomResource(scope, 'BaseUrl', {
    resourceType: 'Custom::TeamsBotBaseUrl',
    installLatestAwsSdk: false,
    onCreate: put,
    onUpdate: put,
    onDelete: {
      service: 'SSM',
      action: 'deleteParameter',
      parameters: { Name: name },
      ignoreErrorCodesMatching: 'ParameterNotFound',
    },
    policy: cr.AwsCustomResourcePolicy.fromStatements([
      new iam.PolicyStatement({ actions: ['ssm:PutParameter', 'ssm:DeleteParameter'], resources: [arn] }),
    ]),
    role,
    logGroup,
  });
  const provider = stack.node.tryFindChild(providerId);
  if (provider !== undefined) {
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'The runtime of the AwsCustomResource provider function is chosen by aws-cdk-lib (custom-resources). It runs ' +
        'only during deployments, to write and delete the bot\'s base-URL SSM parameter.',
    });
  }
}
