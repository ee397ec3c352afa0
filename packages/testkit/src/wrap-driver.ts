import type { Driver } from '@backplane/core';

/** What a test may replace of a driver; the rest is passed through. */
export type DriverOverrides = Partial<
  Pick<Driver, 'connect' | 'close' | 'publish' | 'subscribe' | 'unsubscribe' | 'setMessageHandler'>
>;

/**
 * A driver that passes everything to `inner` except what `overrides` replaces: how a test watches or
 * disturbs what a manager does with its driver (channels subscribed, a frozen link) without a fake.
 */
export function wrapDriver(inner: Driver, overrides: DriverOverrides): Driver {
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    get state$() {
      return inner.state$;
    },
    get state() {
      return inner.state;
    },
    connect: () => inner.connect(),
    close: () => inner.close(),
    publish: (channel, payload) => inner.publish(channel, payload),
    subscribe: (channel) => inner.subscribe(channel),
    unsubscribe: (channel) => inner.unsubscribe(channel),
    setMessageHandler: (handler) => inner.setMessageHandler(handler),
    ...overrides,
  };
}

/**
 * A driver that is `inner` with some of its methods replaced, everything else passed through (bound to
 * `inner`), the capabilities a driver has beyond {@link Driver} included: its durable log, its session store.
 * How a test freezes, thins or watches a real driver without losing what it can do.
 */
export function overrideDriver<T extends Driver>(
  inner: T,
  overrides: { readonly [K in keyof T]?: T[K] } & Readonly<Record<string, unknown>>,
): T {
  return new Proxy(inner, {
    get(target, property) {
      if (typeof property === 'string' && Object.hasOwn(overrides, property)) return overrides[property];
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
