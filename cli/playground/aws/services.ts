/**
 * The playground's KMS, Secrets Manager, SSM and Lambda, speaking the AWS wire protocols the handlers' SDK clients
 * use (JSON 1.1 with `X-Amz-Target` for KMS `TrentService.*`, `secretsmanager.*`, `AmazonSSM.*`; REST-JSON
 * `POST /2015-03-31/functions/{name}/invocations` for Lambda), plus the HTTP dispatcher that also routes DynamoDB
 * (`DynamoDB_20120810.*`, JSON 1.0).
 *
 * KMS: symmetric keys (AES-256-GCM). A ciphertext blob binds the key id, and the encryption context is the GCM
 * additional data, so decrypting with another context fails with InvalidCiphertextException and naming another key
 * with IncorrectKeyException, as KMS does. Operations: CreateKey, DescribeKey, Encrypt, Decrypt, GenerateDataKey,
 * GenerateDataKeyWithoutPlaintext (4096-byte plaintext limit on Encrypt). The handlers' TokenCipher uses GenerateDataKey
 * and Decrypt (envelope encryption); test/playground/aws-contract.test.ts holds both to moto's behaviour.
 *
 * Lambda: `Event` invocations answer 202 at once and run the function afterwards, retrying a failure twice (Lambda's
 * asynchronous retries, with short delays); `RequestResponse` answers the function's result.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, LocalDynamoDb } from './dynamodb';

export const ACCOUNT = '000000000000';
export const REGION = 'us-east-1';

const BLOB_MAGIC = Buffer.from('PGK1');

/** KMS keys: id → 32 bytes of key material (base64 in snapshots). */
export class LocalKms {
  readonly keys = new Map<string, Buffer>();

  createKey(id: string = randomUUID()): string {
    if (!this.keys.has(id)) this.keys.set(id, randomBytes(32));
    return this.arn(id);
  }

  arn(id: string): string {
    return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
  }

  private keyIdOf(ref: unknown): string {
    if (typeof ref !== 'string' || ref === '') throw new AwsError('ValidationException', 'KeyId is required');
    const id = ref.startsWith('arn:') ? ref.split('/').pop()! : ref;
    if (!this.keys.has(id)) throw new AwsError('NotFoundException', `Key '${ref}' does not exist`);
    return id;
  }

  handle(op: string, r: any): unknown {
    switch (op) {
      case 'CreateKey': return { KeyMetadata: this.metadata(this.createKey().split('/').pop()!) };
      case 'DescribeKey': return { KeyMetadata: this.metadata(this.keyIdOf(r.KeyId)) };
      case 'Encrypt': {
        const plaintext = Buffer.from(r.Plaintext ?? '', 'base64');
        if (plaintext.length === 0 || plaintext.length > 4096) throw new AwsError('ValidationException', 'Plaintext must be 1 to 4096 bytes');
        return this.encrypt(this.keyIdOf(r.KeyId), plaintext, r.EncryptionContext);
      }
      case 'Decrypt': return this.decrypt(r);
      case 'GenerateDataKey':
      case 'GenerateDataKeyWithoutPlaintext': {
        const bytes = r.NumberOfBytes ?? (r.KeySpec === 'AES_128' ? 16 : 32);
        if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024) throw new AwsError('ValidationException', 'NumberOfBytes must be 1 to 1024');
        const plaintext = randomBytes(bytes);
        const out = this.encrypt(this.keyIdOf(r.KeyId), plaintext, r.EncryptionContext) as Record<string, unknown>;
        return op === 'GenerateDataKey' ? { ...out, Plaintext: plaintext.toString('base64') } : out;
      }
      default: throw new AwsError('UnknownOperationException', `KMS operation ${op} is not served by the playground`);
    }
  }

  private metadata(id: string): Record<string, unknown> {
    return { KeyId: id, Arn: this.arn(id), Enabled: true, KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', AWSAccountId: ACCOUNT };
  }

  private encrypt(id: string, plaintext: Buffer, context: unknown): unknown {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(id)!, iv);
    cipher.setAAD(aad(context));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const idBytes = Buffer.from(id);
    const blob = Buffer.concat([BLOB_MAGIC, Buffer.from([idBytes.length]), idBytes, iv, cipher.getAuthTag(), ct]);
    return { CiphertextBlob: blob.toString('base64'), KeyId: this.arn(id), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  private decrypt(r: any): unknown {
    const blob = Buffer.from(r.CiphertextBlob ?? '', 'base64');
    if (blob.length < 5 + 12 + 16 || !blob.subarray(0, 4).equals(BLOB_MAGIC)) throw new AwsError('InvalidCiphertextException', '');
    const idLen = blob[4];
    const id = blob.subarray(5, 5 + idLen).toString();
    const key = this.keys.get(id);
    if (!key) throw new AwsError('InvalidCiphertextException', '');
    if (r.KeyId !== undefined && this.keyIdOf(r.KeyId) !== id) throw new AwsError('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext');
    let at = 5 + idLen;
    const iv = blob.subarray(at, (at += 12));
    const tag = blob.subarray(at, (at += 16));
    try {
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAAD(aad(r.EncryptionContext));
      d.setAuthTag(tag);
      const plaintext = Buffer.concat([d.update(blob.subarray(at)), d.final()]);
      return { Plaintext: plaintext.toString('base64'), KeyId: this.arn(id), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    } catch {
      throw new AwsError('InvalidCiphertextException', '');
    }
  }
}

/** The encryption context as GCM additional data: sorted `key=value` pairs, JSON-encoded. */
function aad(context: unknown): Buffer {
  const entries = context && typeof context === 'object' ? Object.entries(context as Record<string, string>) : [];
  return Buffer.from(JSON.stringify(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** Secrets Manager (GetSecretValue, CreateSecret, PutSecretValue) and SSM parameters (GetParameter, PutParameter). */
export class LocalParameters {
  readonly secrets = new Map<string, string>();
  readonly parameters = new Map<string, string>();

  secretArn(name: string): string {
    return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}`;
  }

  private secretName(id: unknown): string {
    const s = String(id ?? '');
    const name = s.startsWith('arn:') ? s.split(':secret:')[1] ?? '' : s;
    if (!this.secrets.has(name)) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return name;
  }

  handleSecrets(op: string, r: any): unknown {
    if (op === 'CreateSecret' || op === 'PutSecretValue') {
      const name = op === 'CreateSecret' ? String(r.Name) : this.secretName(r.SecretId);
      this.secrets.set(name, String(r.SecretString ?? ''));
      return { ARN: this.secretArn(name), Name: name, VersionId: randomUUID() };
    }
    if (op === 'GetSecretValue') {
      const name = this.secretName(r.SecretId);
      return { ARN: this.secretArn(name), Name: name, SecretString: this.secrets.get(name), VersionId: 'v1', VersionStages: ['AWSCURRENT'], CreatedDate: 0 };
    }
    throw new AwsError('UnknownOperationException', `Secrets Manager operation ${op} is not served by the playground`);
  }

  handleSsm(op: string, r: any): unknown {
    if (op === 'PutParameter') {
      this.parameters.set(String(r.Name), String(r.Value));
      return { Version: 1, Tier: 'Standard' };
    }
    if (op === 'GetParameter') {
      const value = this.parameters.get(String(r.Name));
      if (value === undefined) throw new AwsError('ParameterNotFound', '');
      return { Parameter: { Name: r.Name, Type: 'String', Value: value, Version: 1, ARN: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/${String(r.Name).replace(/^\//, '')}` } };
    }
    throw new AwsError('UnknownOperationException', `SSM operation ${op} is not served by the playground`);
  }
}

/** A function the local Lambda runs: the handler of a bundle, looked up at each invocation (so it can be swapped). */
export type LocalFunction = (event: unknown, context: LambdaContext) => Promise<unknown>;

/** The part of Lambda's context object handlers use. */
export interface LambdaContext {
  functionName: string;
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

/** What happened to one asynchronous invocation (shown by the playground, for tests). */
export interface InvocationOutcome {
  functionName: string;
  requestId: string;
  attempts: number;
  ok: boolean;
  error?: string;
}

/** Lambda: registered functions by name; asynchronous `Event` invocations with Lambda's two retries. */
export class LocalLambda {
  readonly functions = new Map<string, () => LocalFunction>();
  readonly outcomes: InvocationOutcome[] = [];
  /** Delays before the retries (Lambda waits about 1 and 2 minutes; the playground a few seconds). */
  retryDelaysMs = [2000, 4000];
  timeoutMs = 60_000;
  private running = 0;
  onOutcome: (o: InvocationOutcome) => void = () => {};

  /** Resolves when no asynchronous invocation is running (tests, `test` scripts). */
  async idle(): Promise<void> {
    while (this.running > 0) await new Promise((r) => setTimeout(r, 20));
  }

  async invoke(name: string, type: string, payload: unknown): Promise<{ status: number; body: string; functionError?: string }> {
    // A name or an ARN (arn:aws:lambda:region:account:function:NAME[:qualifier]).
    const fn = this.functions.get(name.startsWith('arn:') ? name.split(':')[6] ?? '' : name);
    if (!fn) throw new AwsError('ResourceNotFoundException', `Function not found: ${name}`, 404);
    const requestId = randomUUID();
    if (type === 'Event') {
      this.running++;
      void this.runAsync(name, requestId, fn, payload).finally(() => this.running--);
      return { status: 202, body: '' };
    }
    try {
      const result = await this.attempt(name, requestId, fn, payload);
      return { status: 200, body: JSON.stringify(result ?? null) };
    } catch (err) {
      return { status: 200, body: JSON.stringify({ errorType: (err as Error)?.name ?? 'Error', errorMessage: (err as Error)?.message ?? '' }), functionError: 'Unhandled' };
    }
  }

  /** One Event invocation: the attempt and up to two retries; the outcome is recorded. */
  private async runAsync(name: string, requestId: string, fn: () => LocalFunction, payload: unknown): Promise<void> {
    let error: string | undefined;
    for (let attempt = 1; attempt <= 1 + this.retryDelaysMs.length; attempt++) {
      try {
        await this.attempt(name, requestId, fn, payload);
        const o = { functionName: name, requestId, attempts: attempt, ok: true };
        this.outcomes.push(o);
        this.onOutcome(o);
        return;
      } catch (err) {
        error = `${(err as Error)?.name ?? 'Error'}: ${String((err as Error)?.message ?? '').slice(0, 200)}`;
        if (attempt <= this.retryDelaysMs.length) await new Promise((r) => setTimeout(r, this.retryDelaysMs[attempt - 1]));
      }
    }
    const o = { functionName: name, requestId, attempts: 1 + this.retryDelaysMs.length, ok: false, error };
    this.outcomes.push(o);
    this.onOutcome(o);
  }

  private async attempt(name: string, requestId: string, fn: () => LocalFunction, payload: unknown): Promise<unknown> {
    const deadline = Date.now() + this.timeoutMs;
    const context: LambdaContext = {
      functionName: name, awsRequestId: requestId, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    // A fresh copy per attempt, as Lambda deserializes the payload for each.
    return fn()(structuredClone(payload), context);
  }
}

/** Everything AWS the playground serves, behind one HTTP handler. */
export class LocalAws {
  /** True if the request is for the AWS endpoint (an `X-Amz-Target` header or a Lambda API path). */
  static isAwsRequest(req: IncomingMessage): boolean {
    return typeof req.headers['x-amz-target'] === 'string' || (req.url ?? '').startsWith('/2015-03-31/functions/');
  }

  constructor(readonly dynamodb: LocalDynamoDb, readonly kms: LocalKms, readonly params: LocalParameters, readonly lambda: LocalLambda) {}

  async handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const target = String(req.headers['x-amz-target'] ?? '');
    const json10 = target.startsWith('DynamoDB_');
    try {
      if (!target) return await this.lambdaRequest(req, res, body);
      const [service, op] = target.split('.');
      const r = body === '' ? {} : JSON.parse(body);
      let out: unknown;
      if (service === 'DynamoDB_20120810') out = this.dynamodb.handle(op, r);
      else if (service === 'TrentService') out = this.kms.handle(op, r);
      else if (service === 'secretsmanager') out = this.params.handleSecrets(op, r);
      else if (service === 'AmazonSSM') out = this.params.handleSsm(op, r);
      else throw new AwsError('UnknownOperationException', `Unknown service ${service}`);
      send(res, 200, out, json10);
    } catch (err) {
      if (err instanceof AwsError) {
        send(res, err.status, { __type: json10 ? `com.amazonaws.dynamodb.v20120810#${err.type}` : err.type, message: err.message, ...err.extra }, json10);
      } else if (err instanceof SyntaxError) {
        send(res, 400, { __type: 'SerializationException', message: 'invalid JSON' }, json10);
      } else {
        send(res, 500, { __type: 'InternalServerError', message: 'internal error' }, json10);
      }
    }
  }

  private async lambdaRequest(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec((req.url ?? '').split('?')[0]);
    if (!m || req.method !== 'POST') throw new AwsError('ResourceNotFoundException', 'not found', 404);
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    let payload: unknown;
    try {
      payload = body === '' ? {} : JSON.parse(body);
    } catch {
      throw new AwsError('InvalidRequestContentException', 'Could not parse request body into json', 400);
    }
    const out = await this.lambda.invoke(decodeURIComponent(m[1]), type, payload);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' };
    if (out.functionError) headers['x-amz-function-error'] = out.functionError;
    res.writeHead(out.status, headers);
    res.end(out.body);
  }
}

function send(res: ServerResponse, status: number, body: unknown, json10: boolean): void {
  const text = JSON.stringify(body ?? {});
  res.writeHead(status, { 'content-type': `application/x-amz-json-${json10 ? '1.0' : '1.1'}`, 'x-amzn-requestid': randomUUID() });
  res.end(text);
}
