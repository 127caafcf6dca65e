/**
 * A minimal pino-shaped logger that writes one JSON line per record to stderr, for the CLI's
 * own processes (stdout is reserved for the machine-readable event lines).
 */
import type { Logger } from '../core/types.js';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
type Level = keyof typeof LEVELS;

export function jsonLogger(minLevel: Level | 'silent' = 'info', stream: NodeJS.WritableStream = process.stderr): Logger {
  const min = minLevel === 'silent' ? Number.POSITIVE_INFINITY : LEVELS[minLevel];
  const write = (level: Level) => (obj: object, msg?: string): void => {
    if (LEVELS[level] < min) return;
    stream.write(`${JSON.stringify({ level, time: Date.now(), pid: process.pid, ...obj, msg })}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
