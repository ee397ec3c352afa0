import { BrokerError, InvalidArgumentError } from '@backplane/core';
import { readDeadline, stampDeadline } from '@backplane/core/internal';
import { jetstream, StorageType } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { clusterSize, PLACEMENT_ERROR } from './jetstream-log.js';

/** The session store on NATS: the JetStream key-value bucket that holds the records. */
export interface NatsSessionStoreOptions {
  /**
   * The key-value bucket (letters, digits, '-' and '_'); created with the settings below on first use when
   * it does not exist, used as it is when it does. One per app.
   * @default '<subjectRoot>-sessions' with dots as dashes
   */
  bucket?: string;
  /**
   * The bucket's age limit, in ms: JetStream removes a record this long after its last write. A record's
   * own TTL is kept inside it (an expired record reads as absent at once); this only bounds how long a
   * record nobody deleted takes space. A write with a longer TTL than this is refused
   * (`InvalidArgumentError`).
   * @default 3_600_000 (one hour)
   */
  ttl?: number;
  /** Where the bucket is stored. @default 'file' */
  storage?: 'file' | 'memory';
  /**
   * Bucket replicas, 1 to 5. Automatic by default: min(3, servers in the cluster the connection sees),
   * lowered while the cluster cannot place that many. Applied when the bucket is created only.
   * @default min(3, cluster size)
   */
  replicas?: number;
  /** How long one store operation may wait for JetStream, in ms; then it fails with `BrokerError`. @default 5_000 */
  timeout?: number;
}

/** Replicas chosen automatically at most. */
const AUTO_REPLICAS = 3;

/**
 * The records of the session store in a JetStream key-value bucket (history 1). JetStream 2.9 cannot
 * expire single messages, so each value starts with the record's deadline and a record past it reads as
 * absent; the bucket's age limit removes what was never deleted. Keys are escaped to the bucket's key
 * alphabet (see {@link encodeRecordKey}).
 */
export class SessionBucket {
  readonly bucket: string;
  readonly #options: NatsSessionStoreOptions;
  readonly #maxTtl: number;
  /** The bucket once opened (or created) on this connection; reset when an operation fails. */
  #kv: Promise<KV> | undefined;
  #nc: NatsConnection | undefined;

  constructor(root: string, options: NatsSessionStoreOptions = {}) {
    this.#options = options;
    this.bucket = options.bucket ?? `${root.replaceAll('.', '-')}-sessions`;
    this.#maxTtl = options.ttl ?? 3_600_000;
    if (!/^[-\w]+$/.test(this.bucket))
      throw new InvalidArgumentError(`'${this.bucket}' is not a valid key-value bucket name.`);
    if (!(this.#maxTtl > 0))
      throw new InvalidArgumentError(`sessions.ttl must be positive (got ${this.#maxTtl}).`);
    const { replicas } = options;
    if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > 5))
      throw new InvalidArgumentError(`sessions.replicas must be an integer from 1 to 5 (got ${replicas}).`);
  }

  /** Uses `nc` from now on (a new connection: the bucket is opened again on the next operation). */
  attach(nc: NatsConnection | undefined): void {
    if (nc === this.#nc) return;
    this.#nc = nc;
    this.#kv = undefined;
  }

  async put(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    if (ttlMs > this.#maxTtl)
      throw new InvalidArgumentError(
        `A session record's TTL (${ttlMs} ms) exceeds the bucket's age limit (sessions.ttl, ${this.#maxTtl} ms).`,
      );
    const data = stampDeadline(value, ttlMs);
    await this.#run('put', async (kv) => {
      await kv.put(encodeRecordKey(key), data);
    });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const entry = await this.#run('get', (kv) => kv.get(encodeRecordKey(key)));
    const stamped = entry?.operation === 'PUT' ? readDeadline(entry.value) : undefined;
    return stamped && stamped.deadline > Date.now() ? stamped.value : undefined;
  }

  async delete(key: string): Promise<void> {
    await this.#run('delete', (kv) => kv.delete(encodeRecordKey(key)));
  }

  async #run<T>(what: string, operation: (kv: KV) => Promise<T>): Promise<T> {
    const opening = this.#open();
    try {
      return await operation(await opening);
    } catch (cause) {
      if (cause instanceof BrokerError) throw cause;
      // The bucket may be gone (a server that lost its store): open, or create, it again next time.
      if (this.#kv === opening) this.#kv = undefined;
      throw new BrokerError(`NATS session store ${what} in bucket '${this.bucket}' failed.`, { cause });
    }
  }

  #open(): Promise<KV> {
    const nc = this.#nc;
    if (!nc) return Promise.reject(new BrokerError('NATS driver is not connected.'));
    this.#kv ??= this.#create(nc);
    return this.#kv;
  }

  async #create(nc: NatsConnection): Promise<KV> {
    const kvm = new Kvm(jetstream(nc, { timeout: this.#options.timeout ?? 5_000 }));
    const auto = this.#options.replicas === undefined;
    for (let replicas = this.#options.replicas ?? Math.min(AUTO_REPLICAS, clusterSize(nc)); ; replicas--) {
      try {
        return await kvm.create(this.bucket, {
          history: 1,
          ttl: this.#maxTtl,
          replicas,
          storage: this.#options.storage === 'memory' ? StorageType.Memory : StorageType.File,
        });
      } catch (cause) {
        if (auto && replicas > 1 && PLACEMENT_ERROR.test(String((cause as Error).message))) continue;
        throw new BrokerError(
          `Could not open the key-value bucket '${this.bucket}' (is JetStream on? nats-server -js).`,
          { cause },
        );
      }
    }
  }
}

/**
 * A store key in the key-value alphabet (`[-/=.\w]`), injectively: letters, digits, '-', '_' and '/' stay;
 * every other UTF-16 code unit becomes '=' and two hex digits (below 0x100) or '==' and four.
 */
export function encodeRecordKey(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const ch = key[i]!;
    if (/[A-Za-z0-9_\-/]/.test(ch)) out += ch;
    else if (c < 0x100) out += `=${c.toString(16).padStart(2, '0').toUpperCase()}`;
    else out += `==${c.toString(16).padStart(4, '0').toUpperCase()}`;
  }
  return out;
}
