/** The logging surface the API uses: pino's, so the Node entry can pass a pino logger as it is. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: object): Logger
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: Infinity } as const
export type LogLevel = keyof typeof LEVELS

/**
 * JSON lines through any sink (console.log on Workers, an array in tests), with pino's field names
 * (`level`, `time`, `msg`) so one log pipeline reads both runtimes.
 */
export function jsonLogger(options: { level?: LogLevel; write?: (line: string) => void; bindings?: object } = {}): Logger {
  const threshold = LEVELS[options.level ?? 'info']
  const write = options.write ?? ((line: string) => console.log(line))
  const bindings = options.bindings ?? {}
  const at =
    (level: Exclude<LogLevel, 'silent'>) =>
    (obj: object, msg?: string): void => {
      if (LEVELS[level] < threshold) return
      // Like pino: an undefined field is absent, it does not blank out a binding of the same name.
      const fields = Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined))
      write(JSON.stringify({ level: LEVELS[level], time: Date.now(), ...bindings, ...fields, ...(msg ? { msg } : {}) }))
    }
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => jsonLogger({ ...options, bindings: { ...bindings, ...more } }),
  }
}
