import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../wait-for.js';
import { freePorts } from './free-port.js';
import { requireBinary } from './managed-process.js';
import type { NatsServerHandle } from './nats-launcher.js';
import { startServerProcess, tcpProbe } from './server-process.js';
import { TopologyError } from './topology-error.js';

const INSTALL_HINT = 'apt-get install nats-server (Debian/Ubuntu) or brew install nats-server (macOS)';

/** One member of a NATS cluster. */
export interface NatsClusterServerHandle extends NatsServerHandle {
  /** Its server name (`-n`), which JetStream reports leaders by. */
  readonly name: string;
  /** Its route listener (`--cluster`). */
  readonly clusterPort: number;
  /** Its HTTP monitoring port (`-m`): `/routez`, `/jsz`. */
  readonly monitorPort: number;
}

/** Options of `startNatsCluster`. */
export interface StartNatsClusterOptions {
  /** Servers in the cluster. @default 3 */
  size?: number;
  /** JetStream on every server, each with its own store dir. @default true */
  jetstream?: boolean;
  /** `--cluster_name`. @default 'backplane' */
  clusterName?: string;
  /** Time for every route (and the JetStream meta leader) to come up, in ms. @default 30_000 */
  startTimeoutMs?: number;
}

/** A real NATS cluster (full mesh of routes, JetStream clustered) on random ports. */
export interface NatsClusterHandle {
  readonly servers: readonly NatsClusterServerHandle[];
  /** Every server's client URL. */
  readonly urls: readonly string[];
  /** `nats://127.0.0.1:a,nats://127.0.0.1:b,...`, for a client's `servers` option. */
  readonly url: string;
  /**
   * The JetStream meta leader all answering servers agree on, when it answers too; undefined during an
   * election (or with JetStream off).
   */
  metaLeader(): Promise<NatsClusterServerHandle | undefined>;
  /**
   * The leader of stream `streamName` (any account) that the answering servers hosting it agree on, from
   * `/jsz?accounts=true&streams=true`; undefined while there is none or the stream does not exist.
   */
  streamLeader(streamName: string): Promise<NatsClusterServerHandle | undefined>;
  /** Stops every server (killed ones included) and removes their store dirs. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The fields of the monitoring endpoints these helpers read. */
interface Routez {
  num_routes: number;
  routes?: Array<{ remote_id: string }>;
}
interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number };
  account_details?: Array<{
    stream_detail?: Array<{ name: string; cluster?: { leader?: string } }>;
  }>;
}

/** GET a monitoring endpoint; undefined when the server does not answer. */
async function monitor<T>(server: NatsClusterServerHandle, path: string): Promise<T | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${server.monitorPort}${path}`, {
      signal: AbortSignal.timeout(2_000),
    });
    return response.ok ? ((await response.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

/** The one value every answer agrees on, or undefined when there are none or they differ. */
function agreed(answers: ReadonlyArray<string | undefined>): string | undefined {
  const [first] = answers;
  return first && answers.every((a) => a === first) ? first : undefined;
}

/**
 * Starts `size` nats-servers (`-n`, `--cluster_name`, `--cluster`, `--routes` to all the others, `-m`,
 * JetStream with `-js -sd`) in parallel on 127.0.0.1. Ready once every server has a route to each other one
 * and, with JetStream, every server reports the same meta leader and cluster size.
 */
export async function startNatsCluster(options: StartNatsClusterOptions = {}): Promise<NatsClusterHandle> {
  requireBinary('nats-server', INSTALL_HINT);
  const size = options.size ?? 3;
  const jetstream = options.jetstream ?? true;
  const clusterName = options.clusterName ?? 'backplane';
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;

  const ports = await freePorts(3 * size);
  const plan = Array.from({ length: size }, (_, i) => ({
    name: `n${i + 1}`,
    port: ports[3 * i]!,
    clusterPort: ports[3 * i + 1]!,
    monitorPort: ports[3 * i + 2]!,
  }));

  const servers: NatsClusterServerHandle[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const started = await Promise.allSettled(
      plan.map(async (node) => {
        const dir = mkdtempSync(join(tmpdir(), 'backplane-nats-'));
        const routes = plan.filter((other) => other !== node).map((o) => `nats://127.0.0.1:${o.clusterPort}`);
        const server = await startServerProcess({
          command: 'nats-server',
          args: [
            '-a',
            '127.0.0.1',
            '-p',
            String(node.port),
            '-n',
            node.name,
            '-m',
            String(node.monitorPort),
            '--cluster_name',
            clusterName,
            '--cluster',
            `nats://127.0.0.1:${node.clusterPort}`,
            '--routes',
            routes.join(','),
            ...(jetstream ? ['-js', '-sd', dir] : []),
          ],
          name: `nats-server ${node.name} on port ${node.port}`,
          ready: () => tcpProbe(node.port, { expect: (greeting) => greeting.startsWith('INFO ') }),
          startTimeoutMs,
          dir,
        });
        servers.push({ ...server, ...node, url: `nats://127.0.0.1:${node.port}` });
      }),
    );
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    servers.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    await waitFor(
      async () => {
        for (const server of servers) {
          const routez = await monitor<Routez>(server, '/routez');
          const peers = new Set(routez?.routes?.map((r) => r.remote_id));
          if (peers.size !== size - 1) return false;
        }
        if (!jetstream) return true;
        const metas = await Promise.all(servers.map((s) => monitor<Jsz>(s, '/jsz')));
        if (metas.some((m) => m?.meta_cluster?.cluster_size !== size)) return false;
        return agreed(metas.map((m) => m?.meta_cluster?.leader)) !== undefined;
      },
      { timeoutMs: startTimeoutMs, intervalMs: 100, name: `${size} NATS servers routed to each other` },
    ).catch((error: unknown) => {
      throw new TopologyError('ERR_TOPOLOGY_NOT_READY', 'NATS cluster did not become ready', {
        cause: error,
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const byName = (name: string | undefined) => servers.find((s) => s.name === name);
  /** Each answering server's view; dead servers are left out. */
  const views = async (path: string) =>
    (await Promise.all(servers.map((s) => monitor<Jsz>(s, path)))).filter((v) => v !== undefined);

  return {
    servers,
    urls: servers.map((s) => s.url),
    url: servers.map((s) => s.url).join(','),
    metaLeader: async () => {
      const answers = await views('/jsz');
      const leader = byName(agreed(answers.map((a) => a.meta_cluster?.leader)));
      // A dead leader's name lingers until the survivors notice; it counts only if it answered itself.
      return leader && (await monitor<Jsz>(leader, '/jsz')) ? leader : undefined;
    },
    streamLeader: async (streamName) => {
      const answers = await views('/jsz?accounts=true&streams=true');
      const leaders = answers.flatMap((a) =>
        (a.account_details ?? []).flatMap((account) =>
          (account.stream_detail ?? []).filter((s) => s.name === streamName).map((s) => s.cluster?.leader),
        ),
      );
      const leader = byName(agreed(leaders));
      return leader && (await monitor<Jsz>(leader, '/jsz')) ? leader : undefined;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
