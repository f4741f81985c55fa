/**
 * Every error the API answers with. Handlers throw these; one `onError` turns them into RFC 9457
 * problem+json. `type` URIs are stable: clients (and the SDK) switch on them, never on `title` or `detail`.
 */
export const PROBLEM_BASE = 'https://weft.dev/problems/'

export type FieldError = { path: string; message: string; code?: string }

export class WeftError extends Error {
  static code = 'ERR_WEFT'
  code: string = WeftError.code
  status = 500
  slug = 'internal'
  title = 'Internal server error'
  errors?: FieldError[]
  headers?: Record<string, string>

  constructor(detail?: string, options?: { cause?: unknown }) {
    super(detail ?? '', options)
    this.name = new.target.name
  }

  get type(): string {
    return PROBLEM_BASE + this.slug
  }
}

export class ValidationError extends WeftError {
  static override code = 'ERR_VALIDATION'
  override code = ValidationError.code
  override status = 400
  override slug = 'validation-error'
  override title = 'The request is not valid'
  constructor(errors: FieldError[], detail?: string) {
    super(detail ?? errors.map((e) => `${e.path || '(body)'}: ${e.message}`).join('; '))
    this.errors = errors
  }
}

export class MalformedBody extends WeftError {
  static override code = 'ERR_MALFORMED_BODY'
  override code = MalformedBody.code
  override status = 400
  override slug = 'malformed-body'
  override title = 'The request body could not be parsed'
}

export class Unauthorized extends WeftError {
  static override code = 'ERR_UNAUTHORIZED'
  override code = Unauthorized.code
  override status = 401
  override slug = 'unauthorized'
  override title = 'Missing or invalid credentials'
  override headers = { 'WWW-Authenticate': 'Bearer realm="weft"' }
}

export class Forbidden extends WeftError {
  static override code = 'ERR_FORBIDDEN'
  override code = Forbidden.code
  override status = 403
  override slug = 'forbidden'
  override title = 'The credentials do not allow this'
}

export class QuotaExceeded extends WeftError {
  static override code = 'ERR_QUOTA_EXCEEDED'
  override code = QuotaExceeded.code
  override status = 403
  override slug = 'quota-exceeded'
  override title = 'A tenant quota would be exceeded'
}

export class NotFound extends WeftError {
  static override code = 'ERR_NOT_FOUND'
  override code = NotFound.code
  override status = 404
  override slug = 'not-found'
  override title = 'Not found'
}

export class Conflict extends WeftError {
  static override code = 'ERR_CONFLICT'
  override code = Conflict.code
  override status = 409
  override slug = 'conflict'
  override title = 'The request conflicts with the current state'
}

/** A retry arrived while the first request with the same Idempotency-Key is still running: retry shortly. */
export class IdempotencyInProgress extends WeftError {
  static override code = 'ERR_IDEMPOTENCY_IN_PROGRESS'
  override code = IdempotencyInProgress.code
  override status = 409
  override slug = 'idempotency-in-progress'
  override title = 'A request with this Idempotency-Key is still being processed'
  override headers = { 'Retry-After': '1' }
}

export class PreconditionFailed extends WeftError {
  static override code = 'ERR_PRECONDITION_FAILED'
  override code = PreconditionFailed.code
  override status = 412
  override slug = 'precondition-failed'
  override title = 'If-Match does not match the current version'
}

export class PayloadTooLarge extends WeftError {
  static override code = 'ERR_PAYLOAD_TOO_LARGE'
  override code = PayloadTooLarge.code
  override status = 413
  override slug = 'payload-too-large'
  override title = 'The request body is too large'
}

export class UnsupportedMediaType extends WeftError {
  static override code = 'ERR_UNSUPPORTED_MEDIA_TYPE'
  override code = UnsupportedMediaType.code
  override status = 415
  override slug = 'unsupported-media-type'
  override title = 'Unsupported Content-Type'
}

export class DatabaseUnavailable extends WeftError {
  static override code = 'ERR_DATABASE_UNAVAILABLE'
  override code = DatabaseUnavailable.code
  override status = 503
  override slug = 'database-unavailable'
  override title = 'The database is unreachable'
  override headers = { 'Retry-After': '1' }
}

export class NotConfigured extends WeftError {
  static override code = 'ERR_NOT_CONFIGURED'
  override code = NotConfigured.code
  override status = 503
  override slug = 'not-configured'
  override title = 'The server is missing configuration this needs'
}

export class InternalError extends WeftError {
  static override code = 'ERR_INTERNAL'
  override code = InternalError.code
}

export type Problem = {
  type: string
  title: string
  status: number
  detail?: string
  instance?: string
  errors?: FieldError[]
  requestId?: string
}

export function toProblem(err: WeftError, requestId?: string): Problem {
  const p: Problem = { type: err.type, title: err.title, status: err.status }
  if (err.message) p.detail = err.message
  if (err.errors) p.errors = err.errors
  if (requestId) p.requestId = requestId
  return p
}
