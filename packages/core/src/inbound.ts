import type { BackplaneSpans } from './backplane-tracing.js';
import type { Channels } from './channels.js';
import type { ClientInvocations } from './client-invocations.js';
import type { ConnectionRequests } from './connection-requests.js';
import type { LogPosition, MessageHandler } from './driver.js';
import type { Envelope, InvocationBody, PresenceAnswerBody, PresenceQueryBody } from './envelope.js';
import { decodeEnvelope, ownEnvelopeReader } from './envelope-codec.js';
import { EnvelopeError } from './errors.js';
import type { GroupCommands } from './group-commands.js';
import type { LocalConnections } from './local-connections.js';
import type { Logger } from './logger.js';
import type { BackplaneEvent } from './resilience/events.js';
import type { GapDetector } from './resilience/gap-detector.js';
import type { DurableReplay, MessageSource, ProcessOutcome } from './resilience/replay.js';
import type { BackplaneStats } from './stats.js';

const MALFORMED_LOG_INTERVAL_MS = 10_000;

export interface InboundOptions {
  readonly serverId: string;
  readonly epoch: string;
  readonly channels: Channels;
  /** This server's inbox channel. */
  readonly inbox: string;
  readonly stats: BackplaneStats;
  readonly log: Logger;
  /** Per-origin ordering state: sequence numbers per channel and recent `sendGroups` batches. */
  readonly gaps: GapDetector;
  readonly connections: LocalConnections;
  readonly groupCommands: GroupCommands;
  readonly invocations: ClientInvocations;
  readonly requests: ConnectionRequests;
  /** Durable mode only: positions and replays of the channels' logs. */
  readonly replay: DurableReplay | undefined;
  readonly emit: (event: BackplaneEvent) => void;
  /** Any message arrived (the liveness probe stays quiet while the link carries traffic). */
  readonly onActivity: () => void;
  /** One of this server's liveness probes came back. */
  readonly onProbeAnswer: (id: number) => void;
  /** A server's heartbeat on the presence channel (interval 0: its goodbye), with the sessions it adopted. */
  readonly onHeartbeat: (serverId: string, interval: number, adopted: readonly string[] | undefined) => void;
  /** A presence query to answer (on the query channel, or on the inbox when asked of this server only). */
  readonly onPresenceQuery: (query: Envelope & PresenceQueryBody) => void;
  /** A server's answer to one of this server's presence queries. */
  readonly onPresenceAnswer: (answer: Envelope & PresenceAnswerBody) => void;
  /** Where tracing is on: a consumer span around each received invocation's delivery. */
  readonly spans: BackplaneSpans | undefined;
}

/** Kinds that take no part in gap detection: nobody misses a heartbeat, a presence query or its answer. */
const UNSEQUENCED: ReadonlySet<Envelope['kind']> = new Set([
  'heartbeat',
  'presence-query',
  'presence-answer',
]);

/**
 * The inbound path: every message from the broker is decoded (our own echoes dropped undecoded),
 * checked for order (gaps reported, or filled from the log in durable mode, duplicates dropped) and
 * dispatched by kind: deliveries to local connections, group commands and their acks, client results,
 * probes, heartbeats, presence queries and answers, requests about connections and their replies.
 * Malformed messages are counted and logged at a bounded rate.
 */
export class Inbound {
  readonly #options: InboundOptions;
  /** Reads the kind of our own envelopes from their header, so their echo is dropped undecoded. */
  readonly #ownKind: (bytes: Uint8Array) => Envelope['kind'] | undefined;
  #lastMalformedLog = 0;
  #malformedSinceLog = 0;
  /** An invocation's trace context was malformed: it is delivered without it, and counted. */
  readonly #malformedTrace = () => {
    this.#options.stats.malformedTraceContexts++;
  };

  constructor(options: InboundOptions) {
    this.#options = options;
    this.#ownKind = ownEnvelopeReader(options.serverId, options.epoch);
  }

  /** The driver's message handler: typed as one, so the log position cannot be left behind. */
  readonly receive: MessageHandler = (channel, payload, position) => {
    this.#options.stats.received++;
    this.#options.stats.receivedByKind[this.#options.channels.kind(channel)]++;
    this.#options.onActivity();
    if (!this.#options.replay?.hold(channel, { payload, position }))
      this.process(channel, payload, position, 'live');
  };

  /**
   * Decodes, checks order and delivers one message. In durable mode a gap in a live message starts a
   * replay of the channel's log instead (the message itself waits for it); a gap in a live message held
   * during a replay sends the replay back to the log (`'retry'`); a gap in the log itself is a real loss
   * and is reported.
   * @param source `live` from the broker, `log` read back from the log, `held` live but held by a replay.
   */
  process(
    channel: string,
    payload: Uint8Array,
    position: LogPosition | undefined,
    source: MessageSource,
  ): ProcessOutcome {
    const { serverId, stats, gaps, replay, log } = this.#options;
    const own = this.#ownKind(payload);
    if (own !== undefined && own !== 'probe') {
      // Our own sends were delivered locally already (the common echo of a broadcast: not even decoded).
      replay?.advance(channel, position);
      return 'skipped';
    }
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(payload, channel, this.#malformedTrace);
    } catch (error) {
      this.#reportMalformed(channel, error);
      replay?.advance(channel, position);
      return 'skipped';
    }
    if (envelope.origin === serverId) {
      // Our own sends were delivered locally already; only probes come back on purpose.
      if (envelope.kind === 'probe') this.#options.onProbeAnswer(envelope.id);
      replay?.advance(channel, position);
      return 'skipped';
    }
    const seen = UNSEQUENCED.has(envelope.kind)
      ? 'ok'
      : gaps.observe(channel, envelope.origin, envelope.epoch, envelope.seq);
    if (seen === 'duplicate') {
      stats.duplicates++;
      return 'skipped';
    }
    if (seen !== 'ok') {
      if (replay && source !== 'log' && replay.has(channel)) {
        // Fill the hole from the log first; this message is delivered after what it revealed missing. The
        // read starts after this origin's last message processed here: other senders' messages processed
        // since may sit after the missing ones in the log.
        gaps.rewind(channel, seen.origin, seen.epoch, seen.from - 1);
        const retryFrom = gaps.position(channel, seen.origin);
        if (source === 'held') return { retryFrom };
        void replay.replay(channel, { payload, position }, retryFrom);
        return 'skipped';
      }
      this.#options.emit({ type: 'gap', ...seen, target: this.#options.channels.describe(channel) });
      log.warn('Messages missed', { channel, origin: seen.origin, from: seen.from, to: seen.to });
    }
    const connections = this.#options.connections;
    // Durable mode: each frame delivered remembers where in the log it came from (an adopted session's
    // record points there).
    if (replay) connections.source = { channel, position, after: replay.position(channel) };
    replay?.advance(channel, position);
    if (position !== undefined && replay) gaps.setPosition(channel, envelope.origin, position);
    try {
      const spans = this.#options.spans;
      if (spans && envelope.kind === 'invocation')
        spans.process(channel, envelope, source === 'log', () => this.#dispatch(channel, envelope, source));
      else this.#dispatch(channel, envelope, source);
    } catch (error) {
      log.error('Handling a backplane message failed', { channel, kind: envelope.kind, error });
    } finally {
      connections.source = undefined;
    }
    return 'delivered';
  }

  #dispatch(channel: string, envelope: Envelope, source: MessageSource): void {
    const { inbox, channels, connections } = this.#options;
    switch (envelope.kind) {
      case 'invocation':
        if (channel === inbox) this.#receiveInboxInvocation(envelope, false);
        else if (channel === channels.all) connections.deliverToAll(envelope.payloads, envelope.exclude);
        else if (envelope.groups) this.#receiveGroupsBatch(envelope);
        else if (envelope.connectionIds) this.#receiveInboxInvocation(envelope, true);
        else connections.deliverTo(connections.members(channel), envelope.payloads, envelope.exclude);
        return;
      case 'group-command':
        // On another server's inbox (followed for the sessions adopted from it): only for a connection here.
        if (
          channel === inbox ||
          (connections.get(envelope.connectionId) && channels.kind(channel) === 'server')
        )
          void this.#options.groupCommands.receive(envelope);
        return;
      case 'ack':
        if (channel === inbox) this.#options.groupCommands.receiveAck(envelope);
        return;
      case 'completion':
        if (channel === inbox) this.#options.invocations.receiveCompletion(envelope);
        return;
      case 'request':
        // A request read back from the log missed its time: its asker has given up or will soon.
        if (channel === inbox && source !== 'log') void this.#options.requests.receiveRequest(envelope);
        return;
      case 'reply':
        if (channel === inbox) this.#options.requests.receiveReply(envelope);
        return;
      case 'probe':
        return;
      case 'heartbeat':
        if (channel === channels.presence)
          this.#options.onHeartbeat(envelope.origin, envelope.interval, envelope.adopted);
        return;
      case 'presence-query':
        if (channel === channels.presenceQuery || channel === inbox) this.#options.onPresenceQuery(envelope);
        // On another server's inbox (followed for the sessions adopted from it): the groups of a connection
        // here, never "not found" for the others.
        else if (
          envelope.query === 'connection-groups' &&
          channels.kind(channel) === 'server' &&
          connections.get(envelope.name ?? '')
        )
          this.#options.onPresenceQuery(envelope);
        return;
      case 'presence-answer':
        if (channel === inbox) this.#options.onPresenceAnswer(envelope);
        return;
    }
  }

  /**
   * Sends to connections named by id, on this server's inbox, or on the inbox of another server whose
   * sessions this one adopted (`adopted`: the connections not here are someone else's, not unknown).
   */
  #receiveInboxInvocation(envelope: Envelope & InvocationBody, adopted: boolean): void {
    const { connections, invocations } = this.#options;
    const { invocationId, origin } = envelope;
    for (const id of envelope.connectionIds ?? []) {
      const local = connections.get(id);
      if (adopted && !local) continue;
      if (invocationId !== undefined) {
        if (!local) {
          invocations.notFound(origin, invocationId, id);
          continue;
        }
        invocations.forwardResult(origin, invocationId, id);
      }
      if (local) connections.deliver(local.connection, envelope.payloads);
    }
  }

  #receiveGroupsBatch(envelope: Envelope & InvocationBody): void {
    const { batch } = envelope;
    // A copy already delivered via another group channel is dropped.
    if (batch !== undefined && !this.#options.gaps.firstCopy(envelope.origin, envelope.epoch, batch)) return;
    const { connections } = this.#options;
    connections.deliverTo(connections.unionOfGroups(envelope.groups ?? []), envelope.payloads);
  }

  #reportMalformed(channel: string, error: unknown): void {
    this.#options.stats.malformed++;
    this.#malformedSinceLog++;
    const now = Date.now();
    if (now - this.#lastMalformedLog < MALFORMED_LOG_INTERVAL_MS) return;
    this.#options.log.warn('Dropped malformed backplane messages', {
      channel,
      count: this.#malformedSinceLog,
      error: error instanceof EnvelopeError ? error.message : String(error),
    });
    this.#lastMalformedLog = now;
    this.#malformedSinceLog = 0;
  }
}
