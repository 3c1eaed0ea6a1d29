/** pino to stderr: JSON lines, or pretty when stderr is a terminal (and NO_COLOR/CI allow it). */
import pino, { type Logger } from "pino";
import { createRequire } from "node:module";
import type { Log } from "../agent/sync/ports.js";

export function createLogger(level = process.env.EDGESYNC_LOG_LEVEL ?? "info"): Logger {
  const tty = process.stderr.isTTY === true && !process.env.CI;
  // pino-pretty only for a terminal: loaded on demand, a script's or a service's start skips it.
  const pretty = tty ? (createRequire(import.meta.url)("pino-pretty") as typeof import("pino-pretty")) : undefined;
  if (pretty) return pino({ level }, pretty({ destination: 2, colorize: !process.env.NO_COLOR, sync: true }));
  return pino({ level }, pino.destination({ fd: 2, sync: true }));
}

/** The core's Log port on top of pino. */
export function asLog(logger: Logger): Log {
  return {
    debug: (fields, message) => logger.debug(fields, message),
    info: (fields, message) => logger.info(fields, message),
    warn: (fields, message) => logger.warn(fields, message),
  };
}
