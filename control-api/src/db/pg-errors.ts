// Database errors are translated here, once; handlers never look at SQLSTATE codes.
export const PG_ERROR = { UNIQUE_VIOLATION: '23505', FOREIGN_KEY_VIOLATION: '23503', CHECK_VIOLATION: '23514' } as const

type WithCode = { code?: unknown; message?: unknown; cause?: unknown; constraint?: unknown }

/** drizzle wraps driver errors (DrizzleQueryError); walk the cause chain to the driver's own. */
function* chain(err: unknown): Generator<WithCode> {
  let e: unknown = err
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    yield e as WithCode
    e = (e as WithCode).cause
  }
}

export function pgErrorCode(err: unknown): string | undefined {
  for (const e of chain(err)) if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code
  return undefined
}

export function isUniqueViolation(err: unknown): boolean {
  return pgErrorCode(err) === PG_ERROR.UNIQUE_VIOLATION
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE'])
const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connect(ion)? (refused|timed out)/i,
  /pglite is closed/i,
  /client has encountered a connection error/i,
  /cannot use a pool after calling end/i,
  /network connection lost/i,
]

/** True when the failure is reaching the database, not the query itself: the API answers 503. */
export function isConnectionError(err: unknown): boolean {
  for (const e of chain(err)) {
    if (typeof e.code === 'string' && (CONNECTION_CODES.has(e.code) || /^08/.test(e.code) || e.code === '57P01' || e.code === '57P03')) return true
    if (typeof e.message === 'string' && CONNECTION_MESSAGES.some((re) => re.test(e.message as string))) return true
  }
  return false
}
