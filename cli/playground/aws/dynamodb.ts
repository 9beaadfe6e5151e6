/**
 * The playground's DynamoDB: the DynamoDB JSON 1.0 wire protocol (`X-Amz-Target: DynamoDB_20120810.<Operation>`)
 * over an in-memory table map, so the handlers reach it with their real AWS SDK client (`AWS_ENDPOINT_URL_DYNAMODB`).
 *
 * Operations: CreateTable, DescribeTable, DeleteTable, ListTables, UpdateTimeToLive, DescribeTimeToLive, GetItem,
 * PutItem, UpdateItem, DeleteItem (conditions, `ReturnValues`, `ReturnValuesOnConditionCheckFailure`), Query (key
 * conditions, filter, order, `Limit` + `LastEvaluatedKey` pagination), Scan, BatchGetItem, BatchWriteItem,
 * TransactWriteItems (all-or-nothing, `CancellationReasons`) and TransactGetItems. Every request runs to completion
 * before the next starts (Node's single thread), so conditional writes and transactions are atomic and serializable,
 * as DynamoDB's are for single items and transactions. TTL: items whose TTL attribute is in the past are deleted by a
 * sweep (DynamoDB deletes them "typically within a few days"; readers must not rely on either).
 */
import { applyUpdate, compareValues, evaluateCondition, parseKeyCondition, ValidationError, type AttributeValue, type ExpressionContext, type Item } from './expressions';

/** An AWS JSON-protocol error: `__type` and HTTP status. */
export class AwsError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400, readonly extra: Record<string, unknown> = {}) {
    super(message);
  }
}

interface KeySchema { hash: string; range?: string }
interface Table {
  name: string;
  key: KeySchema;
  attributeDefinitions: Array<{ AttributeName: string; AttributeType: string }>;
  ttlAttribute?: string;
  createdAt: number;
  /** serialized key → item */
  items: Map<string, Item>;
}

/** What `--data` persists of the tables. */
export interface DynamoSnapshot {
  tables: Array<Omit<Table, 'items'> & { items: Item[] }>;
}

const REGION_ACCOUNT = 'us-east-1:000000000000';

/** An in-memory DynamoDB. `onChange` is called after every write (for `--data`). */
export class LocalDynamoDb {
  private readonly tables = new Map<string, Table>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Called after every write (for `--data`). */
  onChange: () => void = () => {};

  /** Serializable state. */
  snapshot(): DynamoSnapshot {
    return { tables: [...this.tables.values()].map((t) => ({ ...t, items: [...t.items.values()] })) };
  }

  /** Replaces the state with a snapshot. */
  restore(s: DynamoSnapshot): void {
    this.tables.clear();
    for (const t of s.tables) {
      const table: Table = { ...t, items: new Map() };
      for (const item of t.items) table.items.set(this.keyString(table, item), item);
      this.tables.set(t.name, table);
    }
  }

  /** Deletes items whose TTL attribute (epoch seconds) has passed. */
  sweepExpired(): number {
    const nowS = Math.floor(this.now() / 1000);
    let n = 0;
    for (const t of this.tables.values()) {
      if (!t.ttlAttribute) continue;
      for (const [k, item] of t.items) {
        const ttl = Number(item[t.ttlAttribute]?.N);
        if (Number.isFinite(ttl) && ttl < nowS) {
          t.items.delete(k);
          n++;
        }
      }
    }
    if (n > 0) this.onChange();
    return n;
  }

  /** Runs one operation (`X-Amz-Target` without the prefix) on a parsed JSON request. */
  handle(operation: string, req: any): unknown {
    const operations: Record<string, (r: any) => unknown> = {
      CreateTable: this.opCreateTable,
      DescribeTable: this.opDescribeTable,
      DeleteTable: this.opDeleteTable,
      ListTables: this.opListTables,
      UpdateTimeToLive: this.opUpdateTimeToLive,
      DescribeTimeToLive: this.opDescribeTimeToLive,
      GetItem: this.opGetItem,
      PutItem: this.opPutItem,
      DeleteItem: this.opDeleteItem,
      UpdateItem: this.opUpdateItem,
      Query: this.opQuery,
      Scan: this.opScan,
      BatchGetItem: this.opBatchGetItem,
      BatchWriteItem: this.opBatchWriteItem,
      TransactGetItems: this.opTransactGetItems,
      TransactWriteItems: this.opTransactWriteItems,
    };
    const op = Object.prototype.hasOwnProperty.call(operations, operation) ? operations[operation] : undefined;
    if (!op) throw new AwsError('UnknownOperationException', `Unknown operation ${operation}`);
    try {
      return op.call(this, req ?? {});
    } catch (err) {
      if (err instanceof ValidationError) throw new AwsError('ValidationException', err.message);
      throw err;
    }
  }

  // ---- tables -------------------------------------------------------------------------------------------------

  private opCreateTable(r: any): unknown {
    if (this.tables.has(r.TableName)) throw new AwsError('ResourceInUseException', `Table already exists: ${r.TableName}`);
    const hash = r.KeySchema?.find((k: any) => k.KeyType === 'HASH')?.AttributeName;
    if (!hash) throw new AwsError('ValidationException', 'KeySchema needs a HASH key');
    const range = r.KeySchema?.find((k: any) => k.KeyType === 'RANGE')?.AttributeName;
    const table: Table = {
      name: r.TableName, key: { hash, range }, attributeDefinitions: r.AttributeDefinitions ?? [], createdAt: this.now() / 1000, items: new Map(),
    };
    this.tables.set(r.TableName, table);
    this.onChange();
    return { TableDescription: this.describe(table) };
  }

  private opDescribeTable(r: any): unknown {
    return { Table: this.describe(this.table(r.TableName)) };
  }

  private opDeleteTable(r: any): unknown {
    const t = this.table(r.TableName);
    this.tables.delete(t.name);
    this.onChange();
    return { TableDescription: this.describe(t) };
  }

  private opListTables(): unknown {
    return { TableNames: [...this.tables.keys()].sort() };
  }

  private opUpdateTimeToLive(r: any): unknown {
    const t = this.table(r.TableName);
    const spec = r.TimeToLiveSpecification ?? {};
    t.ttlAttribute = spec.Enabled ? spec.AttributeName : undefined;
    this.onChange();
    return { TimeToLiveSpecification: spec };
  }

  private opDescribeTimeToLive(r: any): unknown {
    const t = this.table(r.TableName);
    return { TimeToLiveDescription: t.ttlAttribute ? { TimeToLiveStatus: 'ENABLED', AttributeName: t.ttlAttribute } : { TimeToLiveStatus: 'DISABLED' } };
  }

  private describe(t: Table): Record<string, unknown> {
    const keySchema = [{ AttributeName: t.key.hash, KeyType: 'HASH' }];
    if (t.key.range) keySchema.push({ AttributeName: t.key.range, KeyType: 'RANGE' });
    return {
      TableName: t.name,
      TableStatus: 'ACTIVE',
      KeySchema: keySchema,
      AttributeDefinitions: t.attributeDefinitions,
      ItemCount: t.items.size,
      CreationDateTime: t.createdAt,
      TableArn: `arn:aws:dynamodb:${REGION_ACCOUNT}:table/${t.name}`,
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
    };
  }

  private table(name: unknown): Table {
    const t = typeof name === 'string' ? this.tables.get(name) : undefined;
    if (!t) throw new AwsError('ResourceNotFoundException', 'Requested resource not found');
    return t;
  }

  // ---- items --------------------------------------------------------------------------------------------------

  private keyString(t: Table, item: Item): string {
    const h = item[t.key.hash];
    const r = t.key.range ? item[t.key.range] : undefined;
    if (!h || (t.key.range && !r)) throw new AwsError('ValidationException', 'The provided key element does not match the schema');
    return JSON.stringify([h, r ?? null]);
  }

  private checkKey(t: Table, key: Item): string {
    const names = [t.key.hash, ...(t.key.range ? [t.key.range] : [])];
    if (!key || Object.keys(key).length !== names.length || names.some((n) => !key[n])) {
      throw new AwsError('ValidationException', 'The provided key element does not match the schema');
    }
    for (const n of names) {
      const v = key[n];
      const def = t.attributeDefinitions.find((d) => d.AttributeName === n)?.AttributeType ?? 'S';
      if (v[def] === undefined || v[def] === '') throw new AwsError('ValidationException', 'The provided key element does not match the schema');
    }
    return this.keyString(t, key);
  }

  private ctx(r: any): ExpressionContext {
    return { names: r.ExpressionAttributeNames, values: r.ExpressionAttributeValues };
  }

  private condition(r: any, current: Item | undefined): void {
    if (r.ConditionExpression && !evaluateCondition(r.ConditionExpression, current, this.ctx(r))) {
      const extra = r.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current ? { Item: current } : {};
      throw new AwsError('ConditionalCheckFailedException', 'The conditional request failed', 400, extra);
    }
  }

  private keyOf(t: Table, item: Item): Item {
    const k: Item = { [t.key.hash]: item[t.key.hash] };
    if (t.key.range) k[t.key.range] = item[t.key.range];
    return k;
  }

  private opGetItem(r: any): unknown {
    const t = this.table(r.TableName);
    const item = t.items.get(this.checkKey(t, r.Key));
    return item ? { Item: this.project(item, r) } : {};
  }

  private project(item: Item, r: any): Item {
    if (!r.ProjectionExpression) return item;
    const out: Item = {};
    for (const raw of String(r.ProjectionExpression).split(',')) {
      const n = raw.trim();
      const name = n.startsWith('#') ? r.ExpressionAttributeNames?.[n] : n;
      if (name && item[name] !== undefined) out[name] = item[name];
    }
    return out;
  }

  private opPutItem(r: any): unknown {
    const t = this.table(r.TableName);
    const k = this.checkKey(t, this.keyOf(t, r.Item ?? {}));
    const old = t.items.get(k);
    this.condition(r, old);
    t.items.set(k, structuredClone(r.Item));
    this.onChange();
    return r.ReturnValues === 'ALL_OLD' && old ? { Attributes: old } : {};
  }

  private opDeleteItem(r: any): unknown {
    const t = this.table(r.TableName);
    const k = this.checkKey(t, r.Key);
    const old = t.items.get(k);
    this.condition(r, old);
    if (old) {
      t.items.delete(k);
      this.onChange();
    }
    return r.ReturnValues === 'ALL_OLD' && old ? { Attributes: old } : {};
  }

  private opUpdateItem(r: any): unknown {
    const t = this.table(r.TableName);
    const k = this.checkKey(t, r.Key);
    const old = t.items.get(k);
    this.condition(r, old);
    const base = old ?? structuredClone(r.Key);
    const keyNames = [t.key.hash, ...(t.key.range ? [t.key.range] : [])];
    const next = r.UpdateExpression ? applyUpdate(r.UpdateExpression, base, this.ctx(r), keyNames) : base;
    t.items.set(k, next);
    this.onChange();
    return this.updateReturn(r.ReturnValues, old, next);
  }

  private updateReturn(mode: string | undefined, old: Item | undefined, next: Item): unknown {
    if (mode === 'ALL_NEW') return { Attributes: next };
    if (mode === 'ALL_OLD') return old ? { Attributes: old } : {};
    const changed = (from: Item | undefined, to: Item | undefined): Item => Object.fromEntries(
      Object.entries(from ?? {}).filter(([n, v]) => JSON.stringify(v) !== JSON.stringify(to?.[n])),
    );
    if (mode === 'UPDATED_NEW') return { Attributes: changed(next, old) };
    if (mode === 'UPDATED_OLD') return old ? { Attributes: changed(old, next) } : {};
    return {};
  }

  private opQuery(r: any): unknown {
    const t = this.table(r.TableName);
    if (r.IndexName) throw new AwsError('ValidationException', 'The playground DynamoDB has no secondary indexes');
    const kc = parseKeyCondition(r.KeyConditionExpression ?? '', this.ctx(r), t.key.hash, t.key.range);
    let items = [...t.items.values()].filter((i) => compareValues(i[t.key.hash], kc.partitionValue) === 0 && kc.sortMatches(i));
    if (t.key.range) items.sort((a, b) => compareValues(a[t.key.range!], b[t.key.range!]) ?? 0);
    if (r.ScanIndexForward === false) items.reverse();
    return this.page(t, items, r);
  }

  private opScan(r: any): unknown {
    const t = this.table(r.TableName);
    return this.page(t, [...t.items.values()], r);
  }

  private page(t: Table, all: Item[], r: any): unknown {
    let items = all;
    if (r.ExclusiveStartKey) {
      const start = this.keyString(t, r.ExclusiveStartKey);
      const at = items.findIndex((i) => this.keyString(t, i) === start);
      items = at >= 0 ? items.slice(at + 1) : items;
    }
    let last: Item | undefined;
    if (typeof r.Limit === 'number' && r.Limit > 0 && items.length > r.Limit) {
      items = items.slice(0, r.Limit);
      last = this.keyOf(t, items[items.length - 1]);
    }
    const scanned = items.length;
    if (r.FilterExpression) items = items.filter((i) => evaluateCondition(r.FilterExpression, i, this.ctx(r)));
    const out: Record<string, unknown> = { Count: items.length, ScannedCount: scanned };
    out.Items = r.Select === 'COUNT' ? undefined : items.map((i) => this.project(i, r));
    if (last) out.LastEvaluatedKey = last;
    return out;
  }

  private opBatchGetItem(r: any): unknown {
    const responses: Record<string, Item[]> = {};
    for (const [name, spec] of Object.entries<any>(r.RequestItems ?? {})) {
      const t = this.table(name);
      responses[name] = (spec.Keys ?? []).map((k: Item) => t.items.get(this.checkKey(t, k))).filter(Boolean).map((i: Item) => this.project(i, spec));
    }
    return { Responses: responses, UnprocessedKeys: {} };
  }

  private opBatchWriteItem(r: any): unknown {
    const writes = Object.entries<any[]>(r.RequestItems ?? {}).flatMap(([name, reqs]) => reqs.map((w) => ({ t: this.table(name), w })));
    if (writes.length > 25) throw new AwsError('ValidationException', 'Too many items requested for the BatchWriteItem call');
    for (const { t, w } of writes) {
      if (w.PutRequest) t.items.set(this.checkKey(t, this.keyOf(t, w.PutRequest.Item)), structuredClone(w.PutRequest.Item));
      else if (w.DeleteRequest) t.items.delete(this.checkKey(t, w.DeleteRequest.Key));
    }
    this.onChange();
    return { UnprocessedItems: {} };
  }

  private opTransactGetItems(r: any): unknown {
    return {
      Responses: (r.TransactItems ?? []).map((x: any) => {
        const t = this.table(x.Get?.TableName);
        const item = t.items.get(this.checkKey(t, x.Get.Key));
        return item ? { Item: this.project(item, x.Get) } : {};
      }),
    };
  }

  private opTransactWriteItems(r: any): unknown {
    const ops: any[] = r.TransactItems ?? [];
    if (ops.length === 0 || ops.length > 100) throw new AwsError('ValidationException', 'TransactItems must have 1 to 100 items');
    const planned = ops.map((x) => this.planTransactItem(x));
    const keys = new Set(planned.map((p) => `${p.t.name}|${p.k}`));
    if (keys.size !== planned.length) throw new AwsError('ValidationException', 'Transaction request cannot include multiple operations on one item');
    const reasons = planned.map((p) => {
      try {
        this.condition({ ...p.spec, ReturnValuesOnConditionCheckFailure: p.spec.ReturnValuesOnConditionCheckFailure }, p.t.items.get(p.k));
        return { Code: 'None' };
      } catch (err) {
        if (!(err instanceof AwsError)) throw err;
        return { Code: 'ConditionalCheckFailed', Message: err.message, ...(err.extra.Item ? { Item: err.extra.Item } : {}) };
      }
    });
    if (reasons.some((x) => x.Code !== 'None')) {
      const message = `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((x) => x.Code).join(', ')}]`;
      throw new AwsError('TransactionCanceledException', message, 400, { CancellationReasons: reasons });
    }
    for (const p of planned) p.apply();
    this.onChange();
    return {};
  }

  private planTransactItem(x: any): { t: Table; k: string; spec: any; apply: () => void } {
    if (x.Put) {
      const t = this.table(x.Put.TableName);
      const k = this.checkKey(t, this.keyOf(t, x.Put.Item ?? {}));
      return { t, k, spec: x.Put, apply: () => t.items.set(k, structuredClone(x.Put.Item)) };
    }
    if (x.Delete) {
      const t = this.table(x.Delete.TableName);
      const k = this.checkKey(t, x.Delete.Key);
      return { t, k, spec: x.Delete, apply: () => t.items.delete(k) };
    }
    if (x.Update) {
      const t = this.table(x.Update.TableName);
      const k = this.checkKey(t, x.Update.Key);
      const keyNames = [t.key.hash, ...(t.key.range ? [t.key.range] : [])];
      // Computed before any write (the state cannot change until the transaction ends): a bad expression fails it whole.
      const next = applyUpdate(x.Update.UpdateExpression, t.items.get(k) ?? structuredClone(x.Update.Key), this.ctx(x.Update), keyNames);
      return { t, k, spec: x.Update, apply: () => t.items.set(k, next) };
    }
    if (x.ConditionCheck) {
      const t = this.table(x.ConditionCheck.TableName);
      return { t, k: this.checkKey(t, x.ConditionCheck.Key), spec: x.ConditionCheck, apply: () => {} };
    }
    throw new AwsError('ValidationException', 'Unknown TransactItem');
  }
}

export type { AttributeValue, Item };

/**
 * The construct's tables (the token table keyed by `pk`, the conversation table by `pk` + `sk`, TTL on `ttl`), each
 * created unless it exists (restored from `--data`).
 */
export function createBotTables(db: LocalDynamoDb, names: { tokens?: string; conversations: string }): void {
  for (const [name, range] of [[names.tokens, undefined], [names.conversations, 'sk']] as const) {
    if (name === undefined) continue;
    try {
      db.handle('CreateTable', {
        TableName: name,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, ...(range ? [{ AttributeName: range, KeyType: 'RANGE' }] : [])],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, ...(range ? [{ AttributeName: range, AttributeType: 'S' }] : [])],
      });
      db.handle('UpdateTimeToLive', { TableName: name, TimeToLiveSpecification: { Enabled: true, AttributeName: 'ttl' } });
    } catch (err) {
      if (!(err instanceof AwsError && err.type === 'ResourceInUseException')) throw err;
    }
  }
}
