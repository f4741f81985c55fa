/** The logging surface the client needs: pino's `(fields, message)` shape, so a pino logger fits as it is. */
export interface ControlLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}
