/**
 * DynamoDB expressions (condition, key condition, update) for the playground's in-process DynamoDB: a tokenizer, a
 * recursive-descent parser and an evaluator over DynamoDB JSON attribute values. Covers the grammar of the AWS
 * DynamoDB developer guide for top-level and dotted attribute paths: comparisons (`= <> < <= > >=`), `BETWEEN`, `IN`,
 * `AND`/`OR`/`NOT`, parentheses, `attribute_exists`, `attribute_not_exists`, `attribute_type`, `begins_with`,
 * `contains`, `size`; updates `SET` (with `+`/`-`, `if_not_exists`, `list_append`), `REMOVE`, `ADD`, `DELETE`.
 * An expression outside that grammar is a ValidationException, as on DynamoDB.
 */

/** A DynamoDB JSON attribute value (`{S}`, `{N}`, `{BOOL}`, `{L}`, `{M}`, ...). */
export type AttributeValue = Record<string, any>;
/** An item: attribute name → value. */
export type Item = Record<string, AttributeValue>;

/** A 400 ValidationException (bad expression, missing name/value). */
export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationException';
  }
}

/** Names and values an expression refers to (`#n`, `:v`). */
export interface ExpressionContext {
  names?: Record<string, string>;
  values?: Record<string, AttributeValue>;
}

type Token = { kind: 'name' | 'value' | 'ident' | 'num' | 'op' | 'punct'; text: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(#[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)|([A-Za-z_][A-Za-z0-9_]*)|(\[[0-9]+\])|(<>|<=|>=|=|<|>|\+|-)|([(),.]))/y;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) throw new ValidationError(`Invalid expression: syntax error near "${src.slice(pos, pos + 12)}"`);
    pos = re.lastIndex;
    if (m[1]) out.push({ kind: 'name', text: m[1] });
    else if (m[2]) out.push({ kind: 'value', text: m[2] });
    else if (m[3]) out.push({ kind: 'ident', text: m[3] });
    else if (m[4]) out.push({ kind: 'num', text: m[4] });
    else if (m[5]) out.push({ kind: 'op', text: m[5] });
    else out.push({ kind: 'punct', text: m[6] });
  }
  return out;
}

/** A parsed operand: a path, a value reference, or a function call (`size`, `if_not_exists`, `list_append`). */
type Operand =
  | { t: 'path'; path: (string | number)[] }
  | { t: 'value'; ref: string }
  | { t: 'call'; fn: string; args: Operand[] }
  | { t: 'arith'; op: '+' | '-'; left: Operand; right: Operand };

type Cond =
  | { t: 'and' | 'or'; left: Cond; right: Cond }
  | { t: 'not'; c: Cond }
  | { t: 'cmp'; op: string; left: Operand; right: Operand }
  | { t: 'between'; v: Operand; lo: Operand; hi: Operand }
  | { t: 'in'; v: Operand; list: Operand[] }
  | { t: 'fn'; fn: string; args: Operand[] };

const CONDITION_FUNCTIONS = new Set(['attribute_exists', 'attribute_not_exists', 'attribute_type', 'begins_with', 'contains']);

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[], private readonly ctx: ExpressionContext) {}

  done(): boolean {
    return this.i >= this.toks.length;
  }
  peek(): Token | undefined {
    return this.toks[this.i];
  }
  next(): Token {
    const t = this.toks[this.i++];
    if (!t) throw new ValidationError('Invalid expression: unexpected end of input');
    return t;
  }
  expect(text: string): void {
    const t = this.next();
    if (t.text.toUpperCase() !== text.toUpperCase()) throw new ValidationError(`Invalid expression: expected "${text}", got "${t.text}"`);
  }
  isKeyword(word: string): boolean {
    const t = this.peek();
    return t?.kind === 'ident' && t.text.toUpperCase() === word;
  }

  condition(): Cond {
    let left = this.conjunction();
    while (this.isKeyword('OR')) {
      this.next();
      left = { t: 'or', left, right: this.conjunction() };
    }
    return left;
  }
  private conjunction(): Cond {
    let left = this.negation();
    while (this.isKeyword('AND')) {
      this.next();
      left = { t: 'and', left, right: this.negation() };
    }
    return left;
  }
  private negation(): Cond {
    if (this.isKeyword('NOT')) {
      this.next();
      return { t: 'not', c: this.negation() };
    }
    return this.predicate();
  }
  private predicate(): Cond {
    const t = this.peek();
    if (t?.text === '(') {
      this.next();
      const c = this.condition();
      this.expect(')');
      return c;
    }
    if (t?.kind === 'ident' && CONDITION_FUNCTIONS.has(t.text) && this.toks[this.i + 1]?.text === '(') {
      this.next();
      return { t: 'fn', fn: t.text, args: this.args() };
    }
    const left = this.operand();
    if (this.isKeyword('BETWEEN')) {
      this.next();
      const lo = this.operand();
      this.expect('AND');
      return { t: 'between', v: left, lo, hi: this.operand() };
    }
    if (this.isKeyword('IN')) {
      this.next();
      return { t: 'in', v: left, list: this.args() };
    }
    const op = this.next();
    if (op.kind !== 'op' || op.text === '+' || op.text === '-') throw new ValidationError(`Invalid expression: expected a comparator, got "${op.text}"`);
    return { t: 'cmp', op: op.text, left, right: this.operand() };
  }
  args(): Operand[] {
    this.expect('(');
    const args: Operand[] = [this.operand()];
    while (this.peek()?.text === ',') {
      this.next();
      args.push(this.operand());
    }
    this.expect(')');
    return args;
  }
  operand(): Operand {
    const t = this.next();
    if (t.kind === 'value') {
      if (!this.ctx.values || !(t.text in this.ctx.values)) throw new ValidationError(`Invalid expression: An expression attribute value used in expression is not defined; attribute value: ${t.text}`);
      return { t: 'value', ref: t.text };
    }
    if (t.kind === 'ident' && this.peek()?.text === '(') return { t: 'call', fn: t.text, args: this.args() };
    if (t.kind === 'name' || t.kind === 'ident') return { t: 'path', path: this.pathFrom(t) };
    throw new ValidationError(`Invalid expression: unexpected "${t.text}"`);
  }
  /** An update value: operand, or operand + / - operand. */
  value(): Operand {
    const left = this.operand();
    const op = this.peek();
    if (op?.kind === 'op' && (op.text === '+' || op.text === '-')) {
      this.next();
      return { t: 'arith', op: op.text, left, right: this.operand() };
    }
    return left;
  }
  pathFrom(first: Token): (string | number)[] {
    const path: (string | number)[] = [this.resolveName(first)];
    for (;;) {
      const t = this.peek();
      if (t?.kind === 'num') {
        this.next();
        path.push(Number(t.text.slice(1, -1)));
      } else if (t?.text === '.') {
        this.next();
        path.push(this.resolveName(this.next()));
      } else {
        return path;
      }
    }
  }
  private resolveName(t: Token): string {
    if (t.kind === 'name') {
      const n = this.ctx.names?.[t.text];
      if (n === undefined) throw new ValidationError(`Invalid expression: An expression attribute name used in the document path is not defined; attribute name: ${t.text}`);
      return n;
    }
    if (t.kind === 'ident') return t.text;
    throw new ValidationError(`Invalid expression: unexpected "${t.text}" in a path`);
  }
}

function getPath(item: Item | undefined, path: (string | number)[]): AttributeValue | undefined {
  let cur: AttributeValue | undefined = item ? { M: item } : undefined;
  for (const p of path) {
    if (!cur) return undefined;
    if (typeof p === 'number') cur = cur.L?.[p];
    else cur = cur.M?.[p];
  }
  return cur;
}

function typeOf(v: AttributeValue): string {
  return Object.keys(v)[0];
}

/** Orders two scalar values of the same type (N, S, B); undefined when they are not comparable. */
export function compareValues(a: AttributeValue | undefined, b: AttributeValue | undefined): number | undefined {
  if (!a || !b) return undefined;
  const ta = typeOf(a);
  if (ta !== typeOf(b)) return undefined;
  if (ta === 'N') return Math.sign(Number(a.N) - Number(b.N));
  if (ta === 'S') return a.S < b.S ? -1 : a.S > b.S ? 1 : 0;
  if (ta === 'B') return Buffer.compare(Buffer.from(a.B, 'base64'), Buffer.from(b.B, 'base64'));
  return undefined;
}

/** Deep equality of two attribute values (numbers compared numerically, sets order-independent). */
export function equalValues(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (!a || !b) return false;
  const ta = typeOf(a);
  if (ta !== typeOf(b)) return false;
  switch (ta) {
    case 'N': return Number(a.N) === Number(b.N);
    case 'S': case 'B': case 'BOOL': case 'NULL': return a[ta] === b[ta];
    case 'SS': case 'BS': return a[ta].length === b[ta].length && a[ta].every((x: string) => b[ta].includes(x));
    case 'NS': return a.NS.length === b.NS.length && a.NS.every((x: string) => b.NS.some((y: string) => Number(y) === Number(x)));
    case 'L': return a.L.length === b.L.length && a.L.every((x: AttributeValue, i: number) => equalValues(x, b.L[i]));
    case 'M': {
      const ka = Object.keys(a.M);
      return ka.length === Object.keys(b.M).length && ka.every((k) => equalValues(a.M[k], b.M[k]));
    }
    default: return false;
  }
}

function sizeOf(v: AttributeValue | undefined): AttributeValue | undefined {
  if (!v) return undefined;
  const t = typeOf(v);
  if (t === 'S') return { N: String(Buffer.byteLength(v.S)) };
  if (t === 'B') return { N: String(Buffer.from(v.B, 'base64').length) };
  if (t === 'L' || t === 'SS' || t === 'NS' || t === 'BS') return { N: String(v[t].length) };
  if (t === 'M') return { N: String(Object.keys(v.M).length) };
  return undefined;
}

function evalOperand(o: Operand, item: Item | undefined, ctx: ExpressionContext): AttributeValue | undefined {
  switch (o.t) {
    case 'value': return ctx.values![o.ref];
    case 'path': return getPath(item, o.path);
    case 'arith': {
      const l = evalOperand(o.left, item, ctx);
      const r = evalOperand(o.right, item, ctx);
      if (!l?.N || !r?.N) throw new ValidationError('An operand in the update expression has an incorrect data type');
      return { N: String(o.op === '+' ? Number(l.N) + Number(r.N) : Number(l.N) - Number(r.N)) };
    }
    case 'call': return evalCall(o, item, ctx);
  }
}

function evalCall(o: Extract<Operand, { t: 'call' }>, item: Item | undefined, ctx: ExpressionContext): AttributeValue | undefined {
  if (o.fn === 'size' && o.args.length === 1) return sizeOf(evalOperand(o.args[0], item, ctx));
  if (o.fn === 'if_not_exists' && o.args.length === 2 && o.args[0].t === 'path') {
    return evalOperand(o.args[0], item, ctx) ?? evalOperand(o.args[1], item, ctx);
  }
  if (o.fn === 'list_append' && o.args.length === 2) {
    const a = evalOperand(o.args[0], item, ctx);
    const b = evalOperand(o.args[1], item, ctx);
    if (!a?.L || !b?.L) throw new ValidationError('list_append: both operands must be lists');
    return { L: [...a.L, ...b.L] };
  }
  throw new ValidationError(`Invalid expression: invalid function ${o.fn}`);
}

function evalCond(c: Cond, item: Item | undefined, ctx: ExpressionContext): boolean {
  switch (c.t) {
    case 'and': return evalCond(c.left, item, ctx) && evalCond(c.right, item, ctx);
    case 'or': return evalCond(c.left, item, ctx) || evalCond(c.right, item, ctx);
    case 'not': return !evalCond(c.c, item, ctx);
    case 'between': {
      const v = evalOperand(c.v, item, ctx);
      const lo = compareValues(v, evalOperand(c.lo, item, ctx));
      const hi = compareValues(v, evalOperand(c.hi, item, ctx));
      return lo !== undefined && hi !== undefined && lo >= 0 && hi <= 0;
    }
    case 'in': {
      const v = evalOperand(c.v, item, ctx);
      return c.list.some((o) => equalValues(v, evalOperand(o, item, ctx)));
    }
    case 'cmp': return compare(c.op, evalOperand(c.left, item, ctx), evalOperand(c.right, item, ctx));
    case 'fn': return evalFunction(c.fn, c.args, item, ctx);
  }
}

function compare(op: string, l: AttributeValue | undefined, r: AttributeValue | undefined): boolean {
  if (op === '=') return equalValues(l, r);
  if (op === '<>') return l !== undefined && r !== undefined && !equalValues(l, r);
  const cmp = compareValues(l, r);
  if (cmp === undefined) return false;
  return op === '<' ? cmp < 0 : op === '<=' ? cmp <= 0 : op === '>' ? cmp > 0 : cmp >= 0;
}

function evalFunction(fn: string, args: Operand[], item: Item | undefined, ctx: ExpressionContext): boolean {
  const path = args[0];
  if ((fn === 'attribute_exists' || fn === 'attribute_not_exists') && args.length === 1 && path.t === 'path') {
    const exists = getPath(item, path.path) !== undefined;
    return fn === 'attribute_exists' ? exists : !exists;
  }
  if (args.length !== 2) throw new ValidationError(`Invalid expression: wrong number of operands for ${fn}`);
  const v = evalOperand(path, item, ctx);
  const arg = evalOperand(args[1], item, ctx);
  if (fn === 'attribute_type') return v !== undefined && typeOf(v) === arg?.S;
  if (fn === 'begins_with') {
    if (v?.S !== undefined && arg?.S !== undefined) return (v.S as string).startsWith(arg.S);
    if (v?.B !== undefined && arg?.B !== undefined) return Buffer.from(v.B, 'base64').subarray(0, Buffer.from(arg.B, 'base64').length).equals(Buffer.from(arg.B, 'base64'));
    return false;
  }
  // contains
  if (!v || !arg) return false;
  if (v.S !== undefined) return arg.S !== undefined && (v.S as string).includes(arg.S);
  const set = v.SS ?? v.NS ?? v.BS;
  if (set) return set.includes(arg.S ?? arg.N ?? arg.B);
  if (v.L) return v.L.some((x: AttributeValue) => equalValues(x, arg));
  return false;
}

/** Parses and evaluates a condition expression against an item (undefined: no item). */
export function evaluateCondition(expression: string, item: Item | undefined, ctx: ExpressionContext): boolean {
  const p = new Parser(tokenize(expression), ctx);
  const c = p.condition();
  if (!p.done()) throw new ValidationError(`Invalid ConditionExpression: unexpected "${p.peek()!.text}"`);
  return evalCond(c, item, ctx);
}

/** A key condition, reduced to the partition key value and an optional sort key predicate. */
export interface KeyCondition {
  partitionValue: AttributeValue;
  sortMatches: (item: Item) => boolean;
}

/** Parses a KeyConditionExpression (`pk = :v [AND sk op :v | sk BETWEEN | begins_with(sk, :v)]`). */
export function parseKeyCondition(expression: string, ctx: ExpressionContext, hashKey: string, rangeKey?: string): KeyCondition {
  const p = new Parser(tokenize(expression), ctx);
  const c = p.condition();
  if (!p.done()) throw new ValidationError('Invalid KeyConditionExpression');
  const parts = c.t === 'and' ? [c.left, c.right] : [c];
  let partitionValue: AttributeValue | undefined;
  const sortConds: Cond[] = [];
  for (const part of parts) {
    const target = keyOf(part);
    if (target === hashKey && part.t === 'cmp' && part.op === '=') partitionValue = evalOperand(part.right, undefined, ctx);
    else if (rangeKey && target === rangeKey) sortConds.push(part);
    else throw new ValidationError('Query condition missed key schema element or used an unsupported operator');
  }
  if (!partitionValue || sortConds.length > 1) throw new ValidationError('Query condition missed key schema element');
  return { partitionValue, sortMatches: (item) => sortConds.every((sc) => evalCond(sc, item, ctx)) };
}

function keyOf(c: Cond): string | undefined {
  if (c.t === 'cmp' && c.left.t === 'path') return String(c.left.path[0]);
  if (c.t === 'between' && c.v.t === 'path') return String(c.v.path[0]);
  if (c.t === 'fn' && c.fn === 'begins_with' && c.args[0].t === 'path') return String(c.args[0].path[0]);
  return undefined;
}

/**
 * Applies an UpdateExpression to a copy of `item` (or a new item holding only the key) and returns it. Key
 * attributes cannot be updated.
 */
export function applyUpdate(expression: string, item: Item, ctx: ExpressionContext, keyNames: string[]): Item {
  const p = new Parser(tokenize(expression), ctx);
  const out: Item = structuredClone(item);
  const seen = new Set<string>();
  while (!p.done()) {
    const clause = p.next();
    const word = clause.text.toUpperCase();
    if (clause.kind !== 'ident' || !['SET', 'REMOVE', 'ADD', 'DELETE'].includes(word) || seen.has(word)) {
      throw new ValidationError(`Invalid UpdateExpression: unexpected "${clause.text}"`);
    }
    seen.add(word);
    do {
      if (p.peek()?.text === ',') p.next();
      updateAction(p, word, item, out, ctx, keyNames);
    } while (p.peek()?.text === ',');
  }
  return out;
}

function updateAction(p: Parser, word: string, before: Item, out: Item, ctx: ExpressionContext, keyNames: string[]): void {
  const first = p.next();
  const path = p.pathFrom(first);
  if (keyNames.includes(String(path[0])) && path.length === 1) {
    throw new ValidationError(`One or more parameter values were invalid: Cannot update attribute ${path[0]}. This attribute is part of the key`);
  }
  if (word === 'SET') {
    p.expect('=');
    const v = evalOperand(p.value(), before, ctx);
    if (v === undefined) throw new ValidationError('The provided expression refers to an attribute that does not exist in the item');
    setPath(out, path, v);
  } else if (word === 'REMOVE') {
    removePath(out, path);
  } else {
    const v = evalOperand(p.operand(), before, ctx);
    const cur = getPath(out, path);
    setPath(out, path, word === 'ADD' ? addValue(cur, v) : deleteFromSet(cur, v), word === 'DELETE');
  }
}

function addValue(cur: AttributeValue | undefined, v: AttributeValue | undefined): AttributeValue {
  if (v?.N !== undefined) {
    if (cur && cur.N === undefined) throw new ValidationError('An operand in the update expression has an incorrect data type');
    return { N: String(Number(cur?.N ?? 0) + Number(v.N)) };
  }
  for (const t of ['SS', 'NS', 'BS']) {
    if (v?.[t]) {
      if (cur && !cur[t]) throw new ValidationError('An operand in the update expression has an incorrect data type');
      return { [t]: [...new Set([...(cur?.[t] ?? []), ...v[t]])] };
    }
  }
  throw new ValidationError('ADD: the operand must be a number or a set');
}

function deleteFromSet(cur: AttributeValue | undefined, v: AttributeValue | undefined): AttributeValue | undefined {
  for (const t of ['SS', 'NS', 'BS']) {
    if (v?.[t]) {
      if (!cur) return undefined;
      if (!cur[t]) throw new ValidationError('An operand in the update expression has an incorrect data type');
      const rest = cur[t].filter((x: string) => !v[t].includes(x));
      return rest.length > 0 ? { [t]: rest } : undefined;
    }
  }
  throw new ValidationError('DELETE: the operand must be a set');
}

function setPath(item: Item, path: (string | number)[], v: AttributeValue | undefined, removeIfUndefined = false): void {
  let container: any = { M: item };
  for (let i = 0; i < path.length - 1; i++) {
    const p = path[i];
    container = typeof p === 'number' ? container.L?.[p] : container.M?.[p];
    if (!container) throw new ValidationError('The document path provided in the update expression is invalid for update');
  }
  const last = path[path.length - 1];
  if (v === undefined && removeIfUndefined) {
    if (typeof last === 'number') container.L?.splice(last, 1);
    else if (container.M) delete container.M[last];
    return;
  }
  if (typeof last === 'number') {
    if (!container.L) throw new ValidationError('The document path provided in the update expression is invalid for update');
    if (last >= container.L.length) container.L.push(v);
    else container.L[last] = v;
  } else {
    if (!container.M) throw new ValidationError('The document path provided in the update expression is invalid for update');
    container.M[last] = v;
  }
}

function removePath(item: Item, path: (string | number)[]): void {
  setPath(item, path, undefined, true);
}
