import type { FieldError, Problem } from './types.js'

/** Every problem `type` the control API answers with starts with this (docs/errors.md). */
export const PROBLEM_BASE = 'https://weft.dev/problems/'

/**
 * The root of everything the SDK throws, so one `instanceof WeftError` catches them all. Switch on the
 * subclass (or `code`), never on `message`.
 */
export class WeftError extends Error {
  static code = 'ERR_WEFT'
  code: string = WeftError.code

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The request never got an answer: DNS, refused connection, reset, TLS. Retried for idempotent methods. */
export class WeftConnectionError extends WeftError {
  static override code = 'ERR_WEFT_CONNECTION'
  override code = WeftConnectionError.code
}

/** No answer within `timeoutMs` (per attempt). Retried for idempotent methods. */
export class WeftTimeoutError extends WeftError {
  static override code = 'ERR_WEFT_TIMEOUT'
  override code = WeftTimeoutError.code
}

/**
 * The API answered with an RFC 9457 problem. It carries the problem's fields; the subclass is chosen by the
 * problem `type`, one class per type, named as the control API names them (control-api/src/errors.ts). A type
 * this SDK does not know (a newer server) arrives as a plain `WeftApiError` with every field intact.
 *
 * @example
 * try {
 *   await weft.services.update('payments', { port: 9090 }, { ifMatch: etag })
 * } catch (err) {
 *   if (err instanceof PreconditionFailed) console.log('changed since you read it:', err.detail)
 *   else throw err
 * }
 */
export class WeftApiError extends WeftError {
  static override code = 'ERR_WEFT_API'
  override code = WeftApiError.code
  /** The problem type URI, e.g. `https://weft.dev/problems/not-found`. Stable: clients switch on it. */
  readonly type: string
  /** A short summary for people; may change between versions. */
  readonly title: string
  /** The HTTP status. */
  readonly status: number
  /** What went wrong with this request, for people. */
  readonly detail: string | undefined
  /** Per-field problems (validation errors). */
  readonly errors: FieldError[] | undefined
  /** The server's request id (`X-Request-Id`): it finds the request in the control API's logs. */
  readonly requestId: string | undefined
  /** The problem body as received, including members this SDK does not know. */
  readonly problem: Problem & Record<string, unknown>
  /** The answer's headers (`Retry-After`, `WWW-Authenticate`, …). */
  readonly headers: Headers
  /** `Retry-After`, in milliseconds, when the answer carried one. */
  readonly retryAfterMs: number | undefined

  constructor(problem: Problem & Record<string, unknown>, headers: Headers = new Headers()) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title)
    this.problem = problem
    this.type = problem.type
    this.title = problem.title
    this.status = problem.status
    this.detail = problem.detail
    this.errors = problem.errors
    this.requestId = problem.requestId ?? headers.get('x-request-id') ?? undefined
    this.headers = headers
    this.retryAfterMs = parseRetryAfter(headers.get('retry-after'))
  }
}

type ProblemClass = { readonly type: string; new (problem: Problem & Record<string, unknown>, headers?: Headers): WeftApiError }

/** 400: the body, query or path does not match the schema; `errors[]` names each field. */
export class ValidationError extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'validation-error'
  static override code = 'ERR_VALIDATION'
  override code = ValidationError.code
  declare readonly errors: FieldError[]
  constructor(problem: Problem & Record<string, unknown>, headers?: Headers) {
    super({ ...problem, errors: problem.errors ?? [] }, headers)
  }
}

/** 400: the body is not JSON. */
export class MalformedBody extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'malformed-body'
  static override code = 'ERR_MALFORMED_BODY'
  override code = MalformedBody.code
}

/** 401: no credentials, an unknown secret, a revoked or expired key. */
export class Unauthorized extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'unauthorized'
  static override code = 'ERR_UNAUTHORIZED'
  override code = Unauthorized.code
}

/** 403: the key's role is too weak, or an operator route with a tenant key (and vice versa). */
export class Forbidden extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'forbidden'
  static override code = 'ERR_FORBIDDEN'
  override code = Forbidden.code
}

/** 403: the tenant would exceed a quota (services, endpoints per service, API keys). */
export class QuotaExceeded extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'quota-exceeded'
  static override code = 'ERR_QUOTA_EXCEEDED'
  override code = QuotaExceeded.code
}

/** 404: no such resource, or it belongs to another tenant. */
export class NotFound extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'not-found'
  static override code = 'ERR_NOT_FOUND'
  override code = NotFound.code
}

/** 409: a resource with that name already exists, or the change contradicts the current state. */
export class Conflict extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'conflict'
  static override code = 'ERR_CONFLICT'
  override code = Conflict.code
}

/** 409: a retry arrived while the first request with the same Idempotency-Key is still running. Retried for you. */
export class IdempotencyInProgress extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'idempotency-in-progress'
  static override code = 'ERR_IDEMPOTENCY_IN_PROGRESS'
  override code = IdempotencyInProgress.code
}

/** 412: `If-Match` names a version that is no longer current. Read again, reapply, retry. */
export class PreconditionFailed extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'precondition-failed'
  static override code = 'ERR_PRECONDITION_FAILED'
  override code = PreconditionFailed.code
}

/** 413: the body exceeds the server's limit. */
export class PayloadTooLarge extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'payload-too-large'
  static override code = 'ERR_PAYLOAD_TOO_LARGE'
  override code = PayloadTooLarge.code
}

/** 415: a body that is not `application/json` (or `application/wasm` for filter modules). */
export class UnsupportedMediaType extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'unsupported-media-type'
  static override code = 'ERR_UNSUPPORTED_MEDIA_TYPE'
  override code = UnsupportedMediaType.code
}

/** 503: the control API cannot reach its database. Retried after `Retry-After` before it reaches you. */
export class DatabaseUnavailable extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'database-unavailable'
  static override code = 'ERR_DATABASE_UNAVAILABLE'
  override code = DatabaseUnavailable.code
}

/** 503: the server lacks configuration this request needs (e.g. `WEFT_MASTER_KEY`). */
export class NotConfigured extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'not-configured'
  static override code = 'ERR_NOT_CONFIGURED'
  override code = NotConfigured.code
}

/** 500: a bug in the control API; `requestId` finds it in the logs. */
export class InternalError extends WeftApiError {
  static readonly type = PROBLEM_BASE + 'internal'
  static override code = 'ERR_INTERNAL'
  override code = InternalError.code
}

const PROBLEM_CLASSES: ReadonlyMap<string, ProblemClass> = new Map(
  [
    ValidationError,
    MalformedBody,
    Unauthorized,
    Forbidden,
    QuotaExceeded,
    NotFound,
    Conflict,
    IdempotencyInProgress,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    DatabaseUnavailable,
    NotConfigured,
    InternalError,
  ].map((c) => [c.type, c]),
)

/** The error class for a problem, rebuilt from its `type`. */
export function errorFromProblem(problem: Problem & Record<string, unknown>, headers?: Headers): WeftApiError {
  const Class = PROBLEM_CLASSES.get(problem.type) ?? WeftApiError
  return new Class(problem, headers)
}

/**
 * The error for a non-2xx answer. Bodies that are not problem+json (a load balancer's HTML 502) become an
 * `about:blank` problem with the status text, as RFC 9457 §4.2.1 says a missing type means.
 */
export async function errorFromResponse(res: Response): Promise<WeftApiError> {
  const text = await res.text().catch(() => '')
  let body: unknown
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    body = undefined
  }
  const fallbackTitle = res.statusText || `HTTP ${res.status}`
  if (isObject(body) && (typeof body.type === 'string' || typeof body.title === 'string')) {
    return errorFromProblem(
      {
        ...body,
        type: typeof body.type === 'string' ? body.type : 'about:blank',
        title: typeof body.title === 'string' ? body.title : fallbackTitle,
        status: typeof body.status === 'number' ? body.status : res.status,
        detail: typeof body.detail === 'string' ? body.detail : undefined,
        errors: Array.isArray(body.errors) ? (body.errors as FieldError[]) : undefined,
        requestId: typeof body.requestId === 'string' ? body.requestId : undefined,
      },
      res.headers,
    )
  }
  return errorFromProblem({ type: 'about:blank', title: fallbackTitle, status: res.status, detail: text ? text.slice(0, 500) : undefined }, res.headers)
}

/** `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, in milliseconds from now. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
