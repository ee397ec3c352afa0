import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts } from './free-port.js';
import { requireBinary } from './managed-process.js';
import { type ServerProcessHandle, startServerProcess, tcpProbe } from './server-process.js';

const run = promisify(execFile);
/**
 * `kafka/` in this package: the pom, the fetch script and the log config. Found by walking up from this
 * module, which sits in `dist/` when bundled and in `src/launchers/` when tests import the source.
 */
export const KAFKA_DIR = ((): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'kafka', 'fetch.sh'))) return join(dir, 'kafka');
    if (dirname(dir) === dir) throw new Error('kafka/fetch.sh not found above the testkit module');
  }
})();

/** A real single-node Apache Kafka broker (KRaft, broker + controller) on random ports. */
export interface KafkaBrokerHandle extends ServerProcessHandle {
  /** The PLAINTEXT listener (always there: no credentials, no TLS). */
  readonly port: number;
  /** `127.0.0.1:port`, for `brokers`. */
  readonly bootstrap: string;
  /** With `sasl`: `127.0.0.1:port` of the SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). */
  readonly saslBootstrap?: string;
  /** With `tls`: `127.0.0.1:port` of the SSL listener. */
  readonly tlsBootstrap?: string;
  /** With `tls` and `sasl`: `127.0.0.1:port` of the SASL_SSL listener. */
  readonly saslTlsBootstrap?: string;
  /**
   * With `tls`: the broker's self-signed certificate (PEM), to trust as the CA, and the file holding it. It
   * is valid for `127.0.0.1` and `localhost`.
   */
  readonly tlsCa?: { readonly pem: string; readonly file: string };
}

/** Options of `startKafka`. */
export interface StartKafkaOptions {
  /**
   * Apache Kafka version (Maven Central `org.apache.kafka:kafka_2.13`), also read from
   * `BACKPLANE_KAFKA_VERSION`. @default `<kafka.version>` of `kafka/pom.xml` (4.1.1)
   */
  version?: string;
  /** @default 60_000 ms */
  startTimeoutMs?: number;
  /**
   * Adds a SASL_PLAINTEXT listener (`saslBootstrap`) where these users (name → password, both of letters,
   * digits, `_`, `.` and `-`) log in with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (the SCRAM credentials are
   * written when the storage is formatted).
   * @default none
   */
  sasl?: { readonly users: Readonly<Record<string, string>> };
  /**
   * Adds an SSL listener (`tlsBootstrap`, and a SASL_SSL one with `sasl`) with a self-signed certificate for
   * 127.0.0.1, made once with the JDK's `keytool` and cached next to the broker jars.
   * @default false
   */
  tls?: boolean;
}

/** The keystore's password (a test certificate, cached on disk: nothing to protect). */
const KEYSTORE_PASSWORD = 'backplane-test';

/**
 * A PKCS12 keystore with a self-signed certificate for 127.0.0.1 and localhost, made with `keytool` on
 * first use and cached in `~/.cache/backplane/kafka-tls` (`$BACKPLANE_CACHE` moves it).
 */
export async function kafkaTestKeystore(): Promise<{ keystore: string; ca: { pem: string; file: string } }> {
  requireBinary('keytool', 'apt-get install openjdk-17-jdk-headless');
  const cache = join(process.env.BACKPLANE_CACHE ?? join(homedir(), '.cache', 'backplane'), 'kafka-tls');
  const keystore = join(cache, 'broker.p12');
  const file = join(cache, 'ca.pem');
  if (!existsSync(keystore) || !existsSync(file)) {
    mkdirSync(dirname(cache), { recursive: true });
    const tmp = mkdtempSync(`${cache}.tmp.`);
    try {
      const store = [
        '-keystore',
        join(tmp, 'broker.p12'),
        '-storetype',
        'PKCS12',
        '-storepass',
        KEYSTORE_PASSWORD,
      ];
      await run('keytool', [
        '-genkeypair',
        '-alias',
        'broker',
        '-keyalg',
        'RSA',
        '-keysize',
        '2048',
        '-validity',
        '3650',
        '-dname',
        'CN=localhost',
        '-ext',
        'SAN=ip:127.0.0.1,dns:localhost',
        '-ext',
        'BC:c=ca:true',
        ...store,
        '-keypass',
        KEYSTORE_PASSWORD,
      ]);
      await run('keytool', [
        '-exportcert',
        '-rfc',
        '-alias',
        'broker',
        ...store,
        '-file',
        join(tmp, 'ca.pem'),
      ]);
      // Another process may have made it meanwhile; either copy is complete, keep the first.
      if (!existsSync(cache)) renameSync(tmp, cache);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { keystore, ca: { pem: readFileSync(file, 'utf8'), file } };
}

/**
 * The broker's jars, fetched with Maven on first use and cached in `~/.cache/backplane/kafka-<version>`
 * (`$BACKPLANE_CACHE` moves it); see `kafka/fetch.sh`. Returns the jar directory.
 */
export async function kafkaJars(version?: string): Promise<string> {
  requireBinary('java', 'apt-get install openjdk-17-jre-headless');
  const { stdout } = await run('bash', [join(KAFKA_DIR, 'fetch.sh'), ...(version ? [version] : [])], {
    maxBuffer: 1 << 20,
  }).catch((error: { stderr?: string }) => {
    throw new Error(`Fetching the Kafka jars failed: ${error.stderr?.trim() || String(error)}`, {
      cause: error,
    });
  });
  return stdout.trim().split('\n').at(-1)!;
}

/**
 * A KRaft cluster id: 16 random bytes, base64url, not starting with `-` (the storage tool would read it as an
 * option; Kafka's own `Uuid.randomUuid()` skips those too).
 */
export function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Starts a single-node Kafka (KRaft, combined broker + controller, static quorum) on two random free ports,
 * with its data in a temp dir; ready once the broker port accepts connections.
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBrokerHandle> {
  const jars = await kafkaJars(options.version);
  const tls = options.tls ? await kafkaTestKeystore() : undefined;
  const users = Object.entries(options.sasl?.users ?? {});
  // They go into server.properties, a JAAS config and the storage tool's SCRAM syntax unescaped.
  for (const [name, password] of users)
    if (!/^[\w.-]+$/.test(name) || !/^[\w.-]+$/.test(password))
      throw new Error(`startKafka: SASL user names and passwords are letters, digits, '_', '.' and '-' here`);
  const sasl = options.sasl !== undefined;
  const [port, controllerPort, saslPort, tlsPort, saslTlsPort] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  // Listener name -> port; each listener is named after its security protocol.
  const listeners: Array<[string, number]> = [['PLAINTEXT', port]];
  if (sasl) listeners.push(['SASL_PLAINTEXT', saslPort]);
  if (tls) listeners.push(['SSL', tlsPort]);
  if (sasl && tls) listeners.push(['SASL_SSL', saslTlsPort]);
  const advertised = listeners.map(([name, p]) => `${name}://127.0.0.1:${p}`).join(',');
  const security = [];
  if (sasl) {
    security.push('sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512');
    for (const listener of ['sasl_plaintext', ...(tls ? ['sasl_ssl'] : [])]) {
      const plainUsers = users.map(([name, password]) => `user_${name}="${password}"`).join(' ');
      security.push(
        `listener.name.${listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
        `listener.name.${listener}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
        `listener.name.${listener}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
      );
    }
  }
  if (tls)
    security.push(
      `ssl.keystore.location=${tls.keystore}`,
      'ssl.keystore.type=PKCS12',
      `ssl.keystore.password=${KEYSTORE_PASSWORD}`,
      `ssl.key.password=${KEYSTORE_PASSWORD}`,
    );
  const dir = mkdtempSync(join(tmpdir(), 'backplane-kafka-'));
  const config = join(dir, 'server.properties');
  writeFileSync(
    config,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=${advertised},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=${advertised}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      `listener.security.protocol.map=${listeners.map(([name]) => `${name}:${name}`).join(',')},CONTROLLER:PLAINTEXT`,
      ...security,
      `log.dirs=${join(dir, 'data')}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      // After a SIGKILL the restarted broker cannot register until the old registration's session expires
      // (9 s by default): a short session makes kill + restart take a few seconds instead of ~14.
      'broker.heartbeat.interval.ms=500',
      'broker.session.timeout.ms=3000',
      'auto.create.topics.enable=false',
    ].join('\n'),
  );
  const classpath = `${jars}/*`;
  const jvm = [
    '-Xms256m',
    '-Xmx512m',
    `-Dlog4j.configuration=file:${join(KAFKA_DIR, 'log4j.properties')}`,
    '-cp',
    classpath,
  ];
  // SCRAM credentials live in the cluster metadata: written when the storage is formatted.
  const scram = users.flatMap(([name, password]) =>
    ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => [
      '--add-scram',
      `${m}=[name=${name},password=${password}]`,
    ]),
  );
  await run(
    'java',
    [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', config, ...scram],
    {
      maxBuffer: 1 << 22,
    },
  );

  const server = await startServerProcess({
    command: 'java',
    args: [...jvm, 'kafka.Kafka', config],
    name: `Kafka broker on port ${port}`,
    ready: () => tcpProbe(port),
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
    stopGraceMs: 10_000,
    dir,
  });
  return {
    ...server,
    port,
    bootstrap: `127.0.0.1:${port}`,
    ...(sasl && { saslBootstrap: `127.0.0.1:${saslPort}` }),
    ...(tls && { tlsBootstrap: `127.0.0.1:${tlsPort}`, tlsCa: tls.ca }),
    ...(sasl && tls && { saslTlsBootstrap: `127.0.0.1:${saslTlsPort}` }),
  };
}
