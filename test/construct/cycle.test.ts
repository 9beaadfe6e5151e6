import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { botStack } from './helpers';

/** Logical ids a value references through Ref, Fn::GetAtt and Fn::Sub (`${X}` / `${X.Attr}`). */
function references(value: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(value)) {
    value.forEach((v) => references(v, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Ref' && typeof v === 'string') {out.add(v);} else if (k === 'Fn::GetAtt') {out.add(Array.isArray(v) ? String(v[0]) : String(v).split('.')[0]);} else if (k === 'Fn::Sub') {
        const text = Array.isArray(v) ? v[0] : v;
        for (const m of String(text).matchAll(/\$\{([A-Za-z0-9]+)(\.[A-Za-z0-9.]+)?\}/g)) out.add(m[1]);
        if (Array.isArray(v)) references(v[1], out);
      } else {references(v, out);}
    }
  }
  return out;
}

/** A dependency cycle among the template's resources (as a list of logical ids), or undefined. */
export function findCycle(template: Record<string, any>): string[] | undefined {
  const resources: Record<string, any> = template.Resources;
  const edges = new Map<string, string[]>();
  for (const [id, r] of Object.entries(resources)) {
    const deps = references(r.Properties ?? {}, new Set());
    for (const d of [r.DependsOn ?? []].flat()) deps.add(d);
    edges.set(id, [...deps].filter((d) => d in resources));
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of edges.get(id)!) {
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of Object.keys(resources)) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}

test('the detector finds the self-reference a naive redirect-URL wiring creates', () => {
  const stack = new Stack(new App(), 'Naive');
  const fn = new lambda.Function(stack, 'Fn', {
    runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=async()=>{}'),
  });
  const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
  fn.addEnvironment('SELF_URL', url.url);
  const cycle = findCycle(Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON());
  expect(cycle).toBeDefined();
  expect(cycle!.some((id) => id.startsWith('FnFunctionUrl'))).toBe(true);
});

test('the detector follows Fn::Sub and DependsOn', () => {
  expect(findCycle({ Resources: { A: { Properties: { X: { 'Fn::Sub': '${B.Arn}' } } }, B: { DependsOn: ['A'] } } })).toEqual(['A', 'B', 'A']);
  expect(findCycle({ Resources: { A: { Properties: { X: { 'Fn::Sub': ['${X}', { X: { Ref: 'B' } }] } } }, B: { DependsOn: 'A' } } })).toEqual(['A', 'B', 'A']);
  expect(findCycle({ Resources: { A: { DependsOn: ['B'] }, B: {} } })).toBeUndefined();
});

test.each([
  ['default (function URL + custom resource)', {}],
  ['custom domain', { publicBaseUrl: 'https://bot.example.com' }],
  ['encrypted log groups, every alarm, dashboard, reserved concurrency', {
    dashboard: true, alarms: { authRefusalsThreshold: 50 }, receiverReservedConcurrency: 20, workerReservedConcurrency: 10,
  }],
])('no dependency cycle in the template: %s', (_name, props) => {
  const { template } = botStack(props);
  expect(findCycle(template.toJSON())).toBeUndefined();
});
