import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { TeamsDelegatedAuthBot, TeamsDelegatedAuthBotProps } from '../../src';

export const APP_ID = '11111111-2222-3333-4444-555555555555';
export const TENANT_ID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

/** A stack with one bot; `extra` overrides the required props. */
export function botStack(extra: Partial<TeamsDelegatedAuthBotProps> = {}, configure?: (stack: Stack) => Partial<TeamsDelegatedAuthBotProps>) {
  const app = new App();
  const stack = new Stack(app, 'TestStack');
  const more = configure ? configure(stack) : {};
  const bot = new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, ...extra, ...more });
  const template = Template.fromStack(stack);
  return { app, stack, bot, template };
}

/** Resources of one type, as [logicalId, resource] pairs. */
export function resourcesOfType(template: Template, type: string): Array<[string, any]> {
  return Object.entries<any>(template.toJSON().Resources).filter(([, r]) => r.Type === type);
}

/** Logical id of the single resource of `type` whose logical id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const found = resourcesOfType(template, type).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} with prefix ${prefix}, found ${found.map(([id]) => id).join(', ')}`);
  return found[0][0];
}

/** Every statement of every AWS::IAM::Policy attached to the role with logical id `roleId`. */
export function roleStatements(template: Template, roleId: string): any[] {
  return resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles ?? []).some((r: any) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

/** The role logical id of a Lambda function resource. */
export function functionRoleId(template: Template, functionId: string): string {
  return template.toJSON().Resources[functionId].Properties.Role['Fn::GetAtt'][0];
}

export function asArray<T>(x: T | T[]): T[] {
  return Array.isArray(x) ? x : [x];
}

/**
 * Evaluates the CloudFormation intrinsics the construct uses (Fn::Join, Fn::Select, Fn::Split, Ref, Fn::GetAtt)
 * with the values CloudFormation would substitute.
 */
export function evaluate(value: any, refs: Record<string, string>): any {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v) => evaluate(v, refs));
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const [k] = keys;
    const arg = value[k];
    switch (k) {
      case 'Fn::Join': return (evaluate(arg[1], refs) as string[]).join(arg[0]);
      case 'Fn::Select': return evaluate(arg[1], refs)[Number(arg[0])];
      case 'Fn::Split': return String(evaluate(arg[1], refs)).split(arg[0]);
      case 'Ref': {
        if (!(arg in refs)) throw new Error(`no value for Ref ${arg}`);
        return refs[arg];
      }
      case 'Fn::GetAtt': {
        const name = `${arg[0]}.${arg[1]}`;
        if (!(name in refs)) throw new Error(`no value for GetAtt ${name}`);
        return refs[name];
      }
      default: break;
    }
  }
  return Object.fromEntries(keys.map((k) => [k, evaluate(value[k], refs)]));
}
