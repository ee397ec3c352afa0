/** Log levels, quietest last. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** What core and drivers log through. Every line carries the node id of the server that wrote it. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * A logger writing `[backplane:<nodeId>] message {fields}` to stderr at `level` and above.
 * @param level the lowest level written. @default the `BACKPLANE_LOG` environment variable, else 'warn'
 */
export function createConsoleLogger(nodeId: string, level?: LogLevel): Logger {
  const envLevel = process.env.BACKPLANE_LOG as LogLevel | undefined;
  const min = rank[level ?? (envLevel && envLevel in rank ? envLevel : 'warn')];
  const write = (at: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (rank[at] < min) return;
    const tail = fields ? ` ${safeJson(fields)}` : '';
    process.stderr.write(
      `${new Date().toISOString()} ${at.toUpperCase()} [backplane:${nodeId}] ${message}${tail}\n`,
    );
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

function safeJson(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields, (_k, v: unknown) =>
      v instanceof Error ? { name: v.name, message: v.message, code: (v as { code?: unknown }).code } : v,
    );
  } catch {
    return '{"fields":"unserializable"}';
  }
}
