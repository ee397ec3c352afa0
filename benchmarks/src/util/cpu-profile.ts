/** The parts of a V8 `.cpuprofile` (written by `node --cpu-prof`) the summary reads. */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }>;
  readonly samples: readonly number[];
  /** µs since the previous sample, per sample. */
  readonly timeDeltas: readonly number[];
}

/** A share of a process's busy CPU time. */
export interface ProfileShare {
  readonly name: string;
  /** Fraction of the busy (non-idle) samples, 0 to 1. */
  readonly share: number;
}

export interface ProfileSummary {
  /** Busy CPU time the profile covers, ms (idle excluded). */
  readonly busyMs: number;
  /** Self time by component, largest first (see {@link componentOf}). */
  readonly components: readonly ProfileShare[];
  /** The functions with the most self time, largest first, named `function (file:line)`. */
  readonly top: readonly ProfileShare[];
}

/**
 * Which part of the stack a function belongs to, from where its code lives: our packages, each library,
 * Node's own JavaScript, the garbage collector, and native code (system calls, V8 builtins without a
 * script), which V8 reports with an empty URL.
 */
export function componentOf(functionName: string, url: string): string {
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)') return 'V8 (program: compiling, runtime)';
  const pkg = /\/packages\/([^/]+)\//.exec(url)?.[1];
  if (pkg && !url.includes('/node_modules/')) return `backplane: ${pkg}`;
  const lib = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (lib) return lib;
  if (url.startsWith('node:')) return 'Node.js core (streams, sockets, buffers, timers)';
  if (url === '') return 'native (system calls, V8 builtins)';
  return 'other';
}

/** Self time per component and the hottest functions of a profile, idle time left out. */
export function summarizeCpuProfile(profile: CpuProfile, topCount = 12): ProfileSummary {
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const components = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const micros = selfMicros.get(node.id) ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (micros === 0 || functionName === '(idle)') continue;
    busy += micros;
    const component = componentOf(functionName, url);
    components.set(component, (components.get(component) ?? 0) + micros);
    const file = url.replace(/^.*\/node_modules\//, '').replace(/^.*\/packages\//, 'packages/');
    const name = `${functionName || '(anonymous)'}${file ? ` (${file.replace(/^file:\/\//, '')}:${lineNumber + 1})` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
  }
  const shares = (m: Map<string, number>, count: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, micros]) => ({ name, share: busy > 0 ? micros / busy : 0 }));
  return {
    busyMs: busy / 1000,
    components: shares(components, Number.POSITIVE_INFINITY),
    top: shares(functions, topCount),
  };
}
