import { Hub, type HubClass } from './hub.js';

/** A callable hub method. */
export interface HubMethod {
  /** The name as declared. */
  readonly name: string;
  readonly fn: (this: Hub, ...args: unknown[]) => unknown;
  /** Declared parameters (`Function.length`: parameters before the first default or rest parameter). */
  readonly arity: number;
  /** An `async *` method: only callable as a stream, gets an `AbortSignal` after the client's arguments. */
  readonly streaming: boolean;
}

const RESERVED = new Set(['constructor', 'onconnected', 'ondisconnected']);

/**
 * The callable methods of a hub class: public methods of the class chain below `Hub` (not `_`-prefixed,
 * not the lifecycle hooks), matched case-insensitively like SignalR. Subclass methods win.
 */
export function discoverHubMethods(hubClass: HubClass): ReadonlyMap<string, HubMethod> {
  const methods = new Map<string, HubMethod>();
  for (
    let proto = hubClass.prototype as object | null;
    proto && proto !== Hub.prototype && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const key = name.toLowerCase();
      if (RESERVED.has(key) || name.startsWith('_') || methods.has(key)) continue;
      const value = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
      if (typeof value !== 'function') continue;
      methods.set(key, {
        name,
        fn: value as HubMethod['fn'],
        arity: value.length,
        streaming: Object.prototype.toString.call(value) === '[object AsyncGeneratorFunction]',
      });
    }
  }
  return methods;
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}
