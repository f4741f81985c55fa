/**
 * The structured logger the host writes filter logs to: pino's `(obj, msg)` call shape, so the proxy's own
 * pino logger (or a child of it) can be passed as is.
 */
export type FilterLogger = {
  trace(obj: object, msg: string): void
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

const noop = (): void => {}

export const silentLogger: FilterLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop }
