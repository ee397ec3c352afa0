import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { type Msg, type NatsConnection, headers as natsHeaders } from '@nats-io/nats-core';
import { hostOf } from './server-urls.js';

/**
 * Header of a barrier marker. Markers travel on live subjects, so every subscriber of the channel sees
 * them: every `NatsDriver` drops a message that has this header before it reaches core.
 */
export const BARRIER_HEADER = 'Backplane-Barrier';

/**
 * When the markers still unanswered are sent again while a barrier waits: after 2 ms, then twice as long
 * each time, up to 64 ms (many barriers at once on a busy server must not flood the cluster).
 */
const RESEND_FIRST_MS = 2;
const RESEND_MAX_MS = 64;
/** How long a server whose probe connection could not be made is left out before trying again, in ms. */
const PROBE_RETRY_MS = 5_000;

const EMPTY = new Uint8Array(0);

/** A connection of this driver to one other server of the cluster, used only to publish markers. */
interface Probe {
  /** `undefined` while connecting, or after the connection failed (see `failedAt`). */
  nc: NatsConnection | undefined;
  connecting: Promise<void> | undefined;
  /** The id of the server it is connected to, read from its INFO. */
  serverId: string | undefined;
  /** It is connected now (not reconnecting). */
  up: boolean;
  failedAt: number;
  /** A first connection attempt has ended (until then every barrier waits for it). */
  tried: boolean;
}

/**
 * Makes a subscription cluster-wide before `subscribe()` resolves.
 *
 * A NATS server confirms a subscription (the flush after SUB) as soon as it has registered it; it tells the
 * other servers of its cluster over the routes a moment later. Until a server has heard, what is published
 * through it does not reach the new subscriber: in a 3-server cluster about 1 publish in 10 sent right
 * after the confirmation was lost, which nobody could report (the receiver had no earlier message to see a
 * gap after). A group join would resolve and the next send to the group from another node miss the member.
 *
 * The barrier closes that window: after the flush, the driver publishes a marker on the new subject through
 * one probe connection to each other server of the cluster (the servers it advertises in `connect_urls`),
 * and resends the markers not yet seen every {@link RESEND_MS} ms. A marker arriving back through the
 * subscription proves that its server routes the subject here; the barrier ends when every server
 * reachable now has, or at `timeout` (a server that does not answer cannot hold a join for longer). The
 * stream leader's server is one of them, so durable republishes are covered too.
 */
export class InterestBarrier {
  readonly #connect: (server: string, tlsName: string | undefined) => Promise<NatsConnection>;
  readonly #timeout: number;
  /** Advertised server (`host:port`) → its probe. */
  readonly #probes = new Map<string, Probe>();
  /** Marker id → called with the id of the server a marker came through. */
  readonly #waiting = new Map<string, (serverId: string) => void>();
  #closed = false;

  /**
   * @param connect opens a probe connection to one advertised server (`host:port`), with the driver's
   *   credentials and TLS (`tlsName`: the host name to check the certificate against, when the
   *   advertised host is an address), reconnecting to that server only
   * @param timeout how long a barrier waits at most, in ms
   */
  constructor(
    connect: (server: string, tlsName: string | undefined) => Promise<NatsConnection>,
    timeout: number,
  ) {
    this.#connect = connect;
    this.#timeout = timeout;
  }

  /**
   * Resolves once every other server of `nc`'s cluster delivers `subject` to `nc`'s subscription (made and
   * flushed before), or after the timeout. Never rejects. Outside a cluster it resolves at once.
   */
  async wait(nc: NatsConnection, subject: string): Promise<void> {
    const servers = nc.info?.connect_urls ?? [];
    if (this.#closed || this.#timeout <= 0 || servers.length < 2) return;
    const deadline = Date.now() + this.#timeout;
    await this.#probe(servers, deadline, tlsNameOf(nc.getServer()));
    const own = nc.info?.server_id;
    const targets = new Map<string, Probe>();
    for (const probe of this.#probes.values())
      if (probe.up && probe.serverId !== undefined && probe.serverId !== own)
        targets.set(probe.serverId, probe);
    if (targets.size === 0) return;
    const id = randomBytes(9).toString('base64url');
    await new Promise<void>((resolve) => {
      let resend: NodeJS.Timeout | undefined;
      let delay = RESEND_FIRST_MS;
      const finish = () => {
        clearTimeout(resend);
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve();
      };
      const send = () => {
        for (const [serverId, probe] of targets) {
          // A probe that went down meanwhile would only buffer: that server is not waited for any more.
          if (!probe.up || !probe.nc) {
            targets.delete(serverId);
            continue;
          }
          const h = natsHeaders();
          h.set(BARRIER_HEADER, `${id} ${serverId}`);
          try {
            probe.nc.publish(subject, EMPTY, { headers: h });
          } catch {
            targets.delete(serverId);
          }
        }
        if (targets.size === 0) return finish();
        resend = setTimeout(send, delay);
        delay = Math.min(RESEND_MAX_MS, delay * 2);
      };
      this.#waiting.set(id, (serverId) => {
        targets.delete(serverId);
        if (targets.size === 0) finish();
      });
      const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
      send();
    });
  }

  /**
   * Whether a received message is a marker (to be dropped, not delivered); notes the marker if a barrier of
   * this driver waits for it. Markers are empty and backplane's own messages never are, so the headers of
   * every other message are not even looked at.
   */
  isMarker(message: Msg): boolean {
    if (message.data.length !== 0) return false;
    const value = message.headers?.get(BARRIER_HEADER);
    if (!value) return false;
    const space = value.indexOf(' ');
    if (space > 0) this.#waiting.get(value.slice(0, space))?.(value.slice(space + 1));
    return true;
  }

  /** Closes every probe connection; later barriers resolve at once. */
  async close(): Promise<void> {
    this.#closed = true;
    const probes = [...this.#probes.values()];
    this.#probes.clear();
    await Promise.all(probes.map((p) => p.nc?.close().catch(() => {})));
  }

  /**
   * Connects the probes that are missing. The first attempt at a server is waited for (not past the
   * deadline); one that failed is tried again in the background, {@link PROBE_RETRY_MS} later at the
   * earliest, so a server that cannot be reached from here delays one barrier, not every one.
   */
  async #probe(servers: readonly string[], deadline: number, tlsName: string | undefined): Promise<void> {
    const now = Date.now();
    const pending: Promise<void>[] = [];
    // A server no longer advertised left the cluster: its probe would try to reconnect forever.
    for (const [server, probe] of this.#probes)
      if (!servers.includes(server)) {
        this.#probes.delete(server);
        void probe.nc?.close().catch(() => {});
      }
    for (const server of servers) {
      let probe = this.#probes.get(server);
      if (!probe) {
        probe = {
          nc: undefined,
          connecting: undefined,
          serverId: undefined,
          up: false,
          failedAt: 0,
          tried: false,
        };
        this.#probes.set(server, probe);
      }
      if (!probe.nc && !probe.connecting && now - probe.failedAt >= PROBE_RETRY_MS)
        probe.connecting = this.#open(server, probe, tlsName);
      if (!probe.tried && probe.connecting) pending.push(probe.connecting);
    }
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending),
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
  }

  async #open(server: string, probe: Probe, tlsName: string | undefined): Promise<void> {
    try {
      const nc = await this.#connect(server, tlsName);
      if (this.#closed || this.#probes.get(server) !== probe) {
        await nc.close().catch(() => {});
        return;
      }
      probe.nc = nc;
      probe.serverId = nc.info?.server_id;
      probe.up = true;
      void this.#watch(probe, nc);
    } catch {
      probe.failedAt = Date.now();
    } finally {
      probe.connecting = undefined;
      probe.tried = true;
    }
  }

  /** Keeps `up` current; a probe whose connection ends is made again by a later barrier. */
  async #watch(probe: Probe, nc: NatsConnection): Promise<void> {
    const markDown = () => {
      probe.up = false;
    };
    nc.closed().then(() => {
      markDown();
      probe.nc = undefined;
      probe.failedAt = Date.now();
    }, markDown);
    try {
      for await (const status of nc.status()) {
        if (
          status.type === 'disconnect' ||
          status.type === 'reconnecting' ||
          status.type === 'staleConnection'
        )
          probe.up = false;
        else if (status.type === 'reconnect') {
          probe.up = true;
          probe.serverId = nc.info?.server_id;
        }
      }
    } catch {
      markDown();
    }
  }
}

/**
 * The host name a probe checks the server's certificate against: the one the driver's own connection
 * dialled (`host:port`), unless that is an address too (as nats.js does for the servers a cluster advertises).
 */
function tlsNameOf(current: string): string | undefined {
  const host = hostOf(current);
  return host && isIP(host) === 0 ? host : undefined;
}
