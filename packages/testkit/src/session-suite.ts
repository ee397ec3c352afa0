import {
  ConnectionNotFoundError,
  type DeliverySource,
  type Driver,
  type DurableDriver,
  HubLifetimeManager,
  type HubLifetimeManagerOptions,
  isDurableDriver,
  isSessionStoreDriver,
  type MessageHandler,
  SessionError,
  type UnackedFrame,
} from '@backplane/core';
import { completionWithResult, JsonHubProtocol, MessageType } from '@backplane/hub-protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nextEvent } from './next-event.js';
import { rejection, silentLogger } from './suite-context.js';
import { SETTLE_MS, TestClient, type TestClientOptions } from './test-client.js';
import { waitFor } from './wait-for.js';
import { overrideDriver, wrapDriver } from './wrap-driver.js';

/** What a driver gives the session suite: drivers with a session store on one shared broker. */
export interface SessionSuiteHarness {
  /**
   * A new, unconnected driver on the shared broker with a session store, as another server of the same
   * app would make it; a durable one when the suite runs with `durable: true`.
   */
  createDriver(): Driver;
  /** Stops whatever the setup started; a harness on a broker it does not own leaves it running. */
  teardown(): Promise<void>;
}

/** Options of `runSessionSuite`. */
export interface SessionSuiteOptions {
  /**
   * The managers run in durable mode (the harness gives durable drivers): an adoption replays from the
   * logs what was published to the session after its last record. Without it, the cases check that the
   * adoption says what it cannot know. @default false
   */
  durable?: boolean;
}

/** How long a case waits for an expected message or event, in ms. */
const WAIT_MS = 15_000;
const json = new JsonHubProtocol();

/** A test client that also keeps each frame it is written and where it came from, as a hub server would. */
class SessionClient extends TestClient {
  readonly frames: UnackedFrame[] = [];
  override write(frame: Uint8Array, source?: DeliverySource): void {
    this.frames.push({ frame, source });
    super.write(frame);
  }
}

/** The words (first argument of each invocation) in frames of the JSON protocol. */
function words(frames: readonly Uint8Array[]): string[] {
  return frames.flatMap((frame) =>
    json.parseMessages(frame).map((m) => {
      if (m.type !== MessageType.Invocation) throw new Error(`expected an invocation, got type ${m.type}`);
      return String(m.arguments[0]);
    }),
  );
}

/**
 * A driver that can be frozen: from then on it delivers nothing and publishes nothing, like a server whose
 * process stopped (no goodbye, no unsubscribe, its subscriptions left behind on the broker). Every other
 * method, the session store and the log included, passes through.
 */
function freezable(driver: Driver, onReadLog?: () => Promise<void>) {
  let frozen = false;
  let readHook = onReadLog;
  const log = isDurableDriver(driver) ? driver : undefined;
  const wrapped = overrideDriver(driver, {
    setMessageHandler: (handler: MessageHandler) =>
      driver.setMessageHandler((channel, payload, position) => {
        if (!frozen) handler(channel, payload, position);
      }),
    publish: (channel: string, payload: Uint8Array) =>
      frozen ? Promise.resolve(undefined) : driver.publish(channel, payload),
    ...(log && {
      publishDurable: (channel: string, payload: Uint8Array, key?: string) =>
        frozen ? Promise.resolve(undefined) : log.publishDurable(channel, payload, key),
      readLog: async (...args: Parameters<DurableDriver['readLog']>) => {
        const page = await log.readLog(...args);
        const hook = readHook;
        readHook = undefined;
        await hook?.();
        return page;
      },
    }),
  });
  return {
    driver: wrapped,
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
    },
    /** Runs `hook` after the next log read returns, before core sees its result. */
    afterNextRead(hook: () => Promise<void>) {
      readHook = hook;
    },
  };
}

/** Waits until the clock shows a later millisecond (logs that order channels by time tell them apart). */
async function nextMillisecond(): Promise<void> {
  const now = Date.now();
  await waitFor(() => Date.now() > now + 1, { name: 'the next millisecond', intervalMs: 1 });
}

/**
 * Client sessions that outlive their server, on the lifetime manager alone: what one server saves of a
 * session another loads, adopts (same connection id, its groups, its first server's inbox followed) and,
 * in durable mode, completes from the logs: the unacknowledged frames, then everything published to the
 * session after the last record, in order and once, then live delivery. Records of another connection or
 * user, malformed records and drivers without a session store are refused with `SessionError`.
 * @param setup starts (or reuses) the broker once for the whole suite.
 */
export function runSessionSuite(
  driverName: string,
  setup: () => Promise<SessionSuiteHarness>,
  options: SessionSuiteOptions = {},
): void {
  const durable = options.durable ?? false;
  describe(`sessions (${driverName}${durable ? ', durable' : ''})`, () => {
    let harness: SessionSuiteHarness | undefined;
    const open: Array<{ close(): Promise<void> }> = [];
    const run = Math.random().toString(36).slice(2, 8);
    let test = 0;
    let prefix = '';

    beforeAll(async () => {
      harness = await setup();
    }, 120_000);
    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((o) => o.close()));
    }, 60_000);
    afterAll(async () => {
      await harness?.teardown();
    }, 60_000);

    /** Managers of one test share its prefix; presence is slow enough that no frozen server is declared gone. */
    async function server(
      driver: Driver = harness!.createDriver(),
      extra: Partial<HubLifetimeManagerOptions> = {},
    ): Promise<HubLifetimeManager> {
      const manager = new HubLifetimeManager({
        driver,
        prefix,
        hub: 'sessions',
        durable,
        logger: silentLogger,
        ackTimeout: 3_000,
        presenceInterval: 60_000,
        liveness: false,
        ...extra,
      });
      open.push(manager);
      await manager.start();
      return manager;
    }

    /** Three servers on one broker; the first one's driver can be frozen, the second's log reads watched. */
    async function servers() {
      prefix = `sess-${run}-${++test}:`;
      const dying = freezable(harness!.createDriver());
      const adopting = freezable(harness!.createDriver());
      const [a, b, c] = await Promise.all([server(dying.driver), server(adopting.driver), server()]);
      return { a, b, c, dying, adopting };
    }

    async function connect(
      manager: HubLifetimeManager,
      options: Partial<TestClientOptions> = {},
    ): Promise<SessionClient> {
      const client = new SessionClient({ connectionId: manager.createConnectionId(), ...options });
      await manager.onConnected(client);
      return client;
    }

    const key = (name: string) => `${name}-${Math.random().toString(36).slice(2)}`;

    it('sessions - the driver has a session store: manager.sessions is available', async () => {
      prefix = `sess-${run}-${++test}:`;
      const manager = await server();
      expect(isSessionStoreDriver(harness!.createDriver())).toBe(true);
      expect(manager.sessions.available).toBe(true);
      expect(manager.sessions.ttl).toBe(120_000);
    });

    it('sessions - a record saved on one server loads on another with its groups, user, protocol, sequence state and holder; end removes it', async () => {
      const { a, b } = await servers();
      const client = await connect(a, { userIdentifier: 'ana' });
      await a.addToGroup(client.connectionId, 'orders');
      await a.addToGroup(client.connectionId, 'news');
      const k = key('saved');
      const frame = json.writeMessage({ type: MessageType.Invocation, target: 'Hello', arguments: ['x'] });
      const before = Date.now();
      await a.sessions.save(k, client.connectionId, {
        protocol: 'json',
        acked: 7,
        received: 3,
        unacked: [{ frame, source: undefined }],
      });
      expect(a.stats.sessionsSaved).toBe(1);
      const record = await b.sessions.load(k);
      expect(record).toMatchObject({
        overflowed: false,
        bound: 8,
        connectionId: client.connectionId,
        userId: 'ana',
        protocol: 'json',
        holder: a.serverId,
        acked: 7,
        received: 3,
        final: false,
      });
      expect([...record!.groups].sort()).toEqual(['news', 'orders']);
      expect(record!.pending.map((p) => (p instanceof Uint8Array ? Uint8Array.from(p) : p))).toEqual([
        Uint8Array.from(frame),
      ]);
      expect(record!.savedAt).toBeGreaterThanOrEqual(before);
      expect(record!.savedAt).toBeLessThanOrEqual(Date.now());
      // Durable mode: a position for each channel of the session (all, user, both groups, its inbox).
      expect(Object.keys(record!.positions).sort()).toEqual(
        durable
          ? [
              a.channels.all,
              a.channels.user('ana'),
              a.channels.group('news'),
              a.channels.group('orders'),
              a.channels.server(a.serverId),
            ].sort()
          : [],
      );

      await a.sessions.save(k, client.connectionId, {
        protocol: 'json',
        acked: 8,
        received: 4,
        unacked: [],
        final: true,
      });
      expect(await b.sessions.load(k)).toMatchObject({ acked: 8, received: 4, pending: [], final: true });

      await b.sessions.end(k);
      expect(await a.sessions.load(k)).toBeUndefined();
      expect(await b.sessions.load(key('never-saved'))).toBeUndefined();
      // A server saves only connections it holds.
      await b.sessions.save(k, client.connectionId, { protocol: 'json', acked: 1, received: 0, unacked: [] });
      expect(await a.sessions.load(k)).toBeUndefined();
    });

    it('sessions - an adopted session keeps its connection id and groups: group, user and by-id sends and group commands from a third server reach it on the adopter', async () => {
      const { a, b, c, dying } = await servers();
      const old = await connect(a, { userIdentifier: 'ana' });
      const id = old.connectionId;
      await c.addToGroup(id, 'orders');
      const k = key('adopt');
      await a.sessions.save(k, id, { protocol: 'json', acked: 0, received: 0, unacked: [] });
      dying.freeze();

      const client = new SessionClient({ connectionId: id, userIdentifier: 'ana' });
      const adopted = nextEvent(b, 'session-adopted', (e) => e.connectionId === id, WAIT_MS);
      const adoption = await b.sessions.adopt(client, (await b.sessions.load(k))!);
      adoption.release();
      expect(adoption.frames).toEqual([]);
      expect(await adopted).toMatchObject({ previousHolder: a.serverId, replayed: 0, complete: durable });
      expect(b.connectionCount).toBe(1);
      expect(b.stats.sessionsAdopted).toBe(1);

      await c.sendGroup('orders', 'Hello', ['group']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['group']);
      await c.sendConnection(id, 'Hello', ['by id']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['by id']);
      await c.sendUser('ana', 'Hello', ['user']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['user']);
      await c.sendAll('Hello', ['all']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['all']);

      // A group command sent to its first server's inbox is applied (and acknowledged) by the adopter.
      await c.addToGroup(id, 'news');
      await c.sendGroup('news', 'Hello', ['joined']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['joined']);
      await c.removeFromGroup(id, 'orders');
      await c.sendGroup('orders', 'Hello', ['left']);
      await c.sendGroup('news', 'Hello', ['still in news']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['still in news']);

      // A client result through its first server's inbox is answered by the adopter.
      const result = c.invokeConnection<number>(id, 'Result', ['q']);
      const invocation = await client.readInvocation(WAIT_MS);
      expect(invocation.arguments).toEqual(['q']);
      await b.setConnectionResult(id, completionWithResult(invocation.invocationId!, 42));
      expect(await result).toBe(42);
      await client.expectNothing();
      // The frozen first server got none of it.
      expect(words(old.frames.map((f) => f.frame))).toEqual([]);
    }, 60_000);

    it('sessions - once its first server is known to be gone, the adopted connection is still reached by id from a third server: group commands, client results and its groups', async () => {
      prefix = `sess-${run}-${++test}:`;
      // Presence fast enough that the first server is declared gone within the case.
      const fast = { presenceInterval: 200, presenceTimeout: 1_000 };
      const dying = freezable(harness!.createDriver());
      const [a, b, c] = await Promise.all([
        server(dying.driver, fast),
        server(undefined, fast),
        server(undefined, fast),
      ]);
      const old = await connect(a, { userIdentifier: 'ana' });
      const stays = await connect(a); // never adopted: it dies with its server
      const id = old.connectionId;
      await c.addToGroup(id, 'orders');
      const k = key('gone');
      await a.sessions.save(k, id, { protocol: 'json', acked: 0, received: 0, unacked: [] });
      // The first server dies: silent, and its connection to the broker closed (its subscriptions gone).
      dying.freeze();
      const client = new SessionClient({ connectionId: id, userIdentifier: 'ana' });
      (await b.sessions.adopt(client, (await b.sessions.load(k))!)).release();
      await dying.driver.close();
      await waitFor(
        async () => {
          const count = await c.presence.connectionCount();
          return !count.partial && count.servers === 2;
        },
        { name: 'the first server known to be gone on the third', timeoutMs: WAIT_MS },
      );

      await c.addToGroup(id, 'news');
      await c.sendGroup('news', 'Hello', ['joined']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['joined']);
      await c.sendConnection(id, 'Hello', ['by id']);
      expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['by id']);

      const result = c.invokeConnection<number>(id, 'Result', ['q']);
      const invocation = await client.readInvocation(WAIT_MS);
      await b.setConnectionResult(id, completionWithResult(invocation.invocationId!, 7));
      expect(await result).toBe(7);

      for (const asker of [c, b]) {
        const groups = await asker.presence.connectionGroups(id);
        expect({ partial: groups.partial, groups: [...(groups.value ?? [])].sort() }).toEqual({
          partial: false,
          groups: ['news', 'orders'],
        });
      }

      if (!dying.driver.capabilities.receiverCount) {
        // Where presence decides, a connection of the dead server that nobody adopted is gone, as before:
        // a client result fails at once, a group command does nothing.
        await expect(c.invokeConnection(stays.connectionId, 'Result', [])).rejects.toBeInstanceOf(
          ConnectionNotFoundError,
        );
        await c.addToGroup(stays.connectionId, 'news');
        expect((await c.presence.connectionGroups(stays.connectionId)).value).toBeUndefined();
      }
    }, 60_000);

    it('sessions - a server following another server\'s inbox acts only for the connections it holds: no "not found", no ack for the others', async () => {
      const { a, b, dying } = await servers();
      const c = await server(undefined, { ackTimeout: 1_000 });
      const stays = await connect(a);
      const moves = await connect(a);
      const k = key('follow');
      await a.sessions.save(k, moves.connectionId, { protocol: 'json', acked: 0, received: 0, unacked: [] });
      await a.onDisconnected(moves); // handed off: the first server holds only `stays` now
      const adoption = await b.sessions.adopt(
        new SessionClient({ connectionId: moves.connectionId }),
        (await b.sessions.load(k))!,
      );
      adoption.release();
      // The first server stops answering: only the adopter, which follows its inbox, could.
      dying.freeze();

      const abort = new AbortController();
      const invoked = rejection(
        c.invokeConnection(stays.connectionId, 'Result', [], { signal: abort.signal }),
      );
      const settled = await Promise.race([
        invoked.then(() => 'settled' as const),
        new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), SETTLE_MS * 4)),
      ]);
      expect(settled).toBe('pending');
      abort.abort();
      expect(await invoked).not.toBeInstanceOf(ConnectionNotFoundError);

      // Nobody acknowledges the group command: the adopter does not hold `stays`.
      const error = await rejection(c.addToGroup(stays.connectionId, 'orders'));
      expect(error.message).toMatch(/acknowledg|time/i);
      await c.sendGroup('orders', 'Hello', ['to orders']);
      await stays.expectNothing();
    }, 60_000);

    it.runIf(durable)(
      'sessions - durable: adopt returns the unacknowledged frames, then what was published to the session after its last record, in order and once; live messages follow release without gaps or duplicates',
      async () => {
        const { a, b, c, dying, adopting } = await servers();
        const old = await connect(a, { userIdentifier: 'ana' });
        const id = old.connectionId;
        await a.addToGroup(id, 'orders');
        for (const word of ['m1', 'm2', 'm3']) await c.sendGroup('orders', 'Hello', [word]);
        await waitFor(() => old.frames.length === 3, { name: 'three frames on A', timeoutMs: WAIT_MS });
        expect(old.frames.every((f) => f.source?.after !== undefined)).toBe(true);
        // The client acknowledged m1; m2 and m3 are in flight. Then the server dies without a word.
        const k = key('durable');
        await a.sessions.save(k, id, {
          protocol: 'json',
          acked: 1,
          received: 0,
          unacked: old.frames.slice(1),
        });
        const record = (await b.sessions.load(k))!;
        expect(record.pending).toEqual([
          expect.objectContaining({ channel: a.channels.group('orders'), count: 2 }),
        ]);
        dying.freeze();

        // Published to the session after its last record, on each of its channels; and what is not its own.
        const sends: Array<() => Promise<unknown>> = [
          () => c.sendGroup('orders', 'Hello', ['m4']),
          () => c.sendConnection(id, 'Hello', ['m5']),
          () => c.sendUser('ana', 'Hello', ['m6']),
          () => c.sendAll('Hello', ['m7']),
          () => c.sendGroup('other', 'Hello', ['not hers']),
          () => c.sendAllExcept('Hello', ['excluded'], [id]),
          () => c.sendGroups(['orders', 'news'], 'Hello', ['m8']),
          () => c.sendGroup('orders', 'Hello', ['m9']),
        ];
        for (const send of sends) {
          await send();
          await nextMillisecond();
        }

        // While the adoption reads the logs, more is published to its group: it comes once, after the replay.
        adopting.afterNextRead(async () => {
          await c.sendGroup('orders', 'Hello', ['m10']);
        });
        const client = new SessionClient({ connectionId: id, userIdentifier: 'ana' });
        const adopted = nextEvent(b, 'session-adopted', (e) => e.connectionId === id, WAIT_MS);
        const adoption = await b.sessions.adopt(client, record);
        const replayed = words(adoption.frames);
        for (const frame of adoption.frames) client.write(frame);
        adoption.release();
        expect(adoption.complete).toBe(true);
        expect(await adopted).toMatchObject({
          previousHolder: a.serverId,
          replayed: adoption.frames.length,
          complete: true,
          since: record.savedAt,
        });
        expect(replayed.slice(0, 8)).toEqual(['m2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
        await c.sendGroup('orders', 'Hello', ['m11']);
        const received: string[] = [];
        for (let i = 2; i <= 11; i++)
          received.push(String((await client.readInvocation(WAIT_MS)).arguments[0]));
        expect(received).toEqual(['m2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10', 'm11']);
        await client.expectNothing();
      },
      90_000,
    );

    it.runIf(!durable)(
      'sessions - without a log, adopt returns the pending frames as they were and says complete: false, with a reason',
      async () => {
        const { a, b, c, dying } = await servers();
        const old = await connect(a);
        const id = old.connectionId;
        await a.addToGroup(id, 'orders');
        for (const word of ['m1', 'm2', 'm3']) await c.sendGroup('orders', 'Hello', [word]);
        await waitFor(() => old.frames.length === 3, { name: 'three frames on A', timeoutMs: WAIT_MS });
        const k = key('bytes');
        await a.sessions.save(k, id, {
          protocol: 'json',
          acked: 1,
          received: 0,
          unacked: old.frames.slice(1),
        });
        dying.freeze();
        await c.sendGroup('orders', 'Hello', ['lost']);

        const client = new SessionClient({ connectionId: id });
        const adopted = nextEvent(b, 'session-adopted', (e) => e.connectionId === id, WAIT_MS);
        const adoption = await b.sessions.adopt(client, (await b.sessions.load(k))!);
        adoption.release();
        expect(adoption.frames.map((f) => Uint8Array.from(f))).toEqual(
          old.frames.slice(1).map((f) => Uint8Array.from(f.frame)),
        );
        expect(words(adoption.frames)).toEqual(['m2', 'm3']);
        expect(adoption.complete).toBe(false);
        const event = await adopted;
        expect(event).toMatchObject({ complete: false, replayed: 2, previousHolder: a.serverId });
        expect(event.reason).toEqual(expect.any(String));
        await c.sendGroup('orders', 'Hello', ['live']);
        // 'lost' was published while no server held the session; where the broker still had it in flight to
        // the adopter (Kafka: every server reads every message) it may arrive yet, never after 'live'.
        const first = (await client.readInvocation(WAIT_MS)).arguments;
        if (first[0] === 'lost') expect((await client.readInvocation(WAIT_MS)).arguments).toEqual(['live']);
        else expect(first).toEqual(['live']);
        await client.expectNothing();
      },
      60_000,
    );

    it("sessions - a record is adopted only by its own connection id and user (else SessionError('mismatch')) and not once its holder dropped unacknowledged frames ('overflowed'); nothing registered", async () => {
      const { a, b } = await servers();
      const old = await connect(a, { userIdentifier: 'ana' });
      const k = key('mismatch');
      await a.sessions.save(k, old.connectionId, { protocol: 'json', acked: 0, received: 0, unacked: [] });
      const record = (await b.sessions.load(k))!;
      for (const client of [
        new SessionClient({ connectionId: old.connectionId, userIdentifier: 'bob' }),
        new SessionClient({ connectionId: old.connectionId }),
        new SessionClient({ connectionId: b.createConnectionId(), userIdentifier: 'ana' }),
      ]) {
        const error = await rejection(b.sessions.adopt(client, record));
        expect(error).toBeInstanceOf(SessionError);
        expect((error as SessionError).reason).toBe('mismatch');
      }
      // A record whose holder dropped frames its client never acknowledged cannot be resumed.
      await a.sessions.save(k, old.connectionId, {
        protocol: 'json',
        acked: 0,
        received: 0,
        unacked: [],
        overflowed: true,
      });
      const overflowed = (await b.sessions.load(k))!;
      expect(overflowed.overflowed).toBe(true);
      const error = await rejection(
        b.sessions.adopt(
          new SessionClient({ connectionId: old.connectionId, userIdentifier: 'ana' }),
          overflowed,
        ),
      );
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).reason).toBe('overflowed');
      expect(b.connectionCount).toBe(0);
      expect(b.stats.sessionsAdopted).toBe(0);
    });

    it("sessions - a malformed record or one of another version loads as SessionError('malformed')", async () => {
      const { b } = await servers();
      const store = harness!.createDriver();
      open.push(store);
      if (!isSessionStoreDriver(store)) throw new Error(`${store.name} keeps no session records`);
      await store.connect();
      const records: Record<string, Uint8Array> = {
        garbage: Uint8Array.of(0xc1, 0xff, 0x00),
        number: Uint8Array.of(0x01),
        // MessagePack {v: 2}
        version: Uint8Array.of(0x81, 0xa1, 0x76, 0x02),
      };
      for (const [name, value] of Object.entries(records)) {
        const k = key(name);
        await store.putRecord(b.channels.sessionKey(k), value, 60_000);
        const error = await rejection(b.sessions.load(k));
        expect(error, name).toBeInstanceOf(SessionError);
        expect((error as SessionError).reason, name).toBe('malformed');
      }
    });

    it('sessions - a driver without a session store: available is false, save and load refuse, end does nothing', async () => {
      prefix = `sess-${run}-${++test}:`;
      // Wrapped, the driver shows only the basic driver contract (no store, no log).
      const manager = await server(wrapDriver(harness!.createDriver(), {}), { durable: false });
      expect(manager.sessions.available).toBe(false);
      const client = await connect(manager);
      const saved = await rejection(
        manager.sessions.save('k', client.connectionId, {
          protocol: 'json',
          acked: 0,
          received: 0,
          unacked: [],
        }),
      );
      expect(saved).toBeInstanceOf(SessionError);
      expect((saved as SessionError).reason).toBe('unavailable');
      expect(await rejection(manager.sessions.load('k'))).toBeInstanceOf(SessionError);
      await expect(manager.sessions.end('k')).resolves.toBeUndefined();
    });
  });
}
