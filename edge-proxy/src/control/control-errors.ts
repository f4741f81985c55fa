/**
 * Every error the control-plane client throws or reports. Stable `code`s (switch on them, never on the
 * message); causes are chained. HTTP failures keep the control API's RFC 9457 problem fields.
 */
export class ControlClientError extends Error {
  static code = 'ERR_CONTROL'
  code: string = ControlClientError.code

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The options given to `createControlClient` (or one of its methods) do not make sense. */
export class ControlClientConfigError extends ControlClientError {
  static override code = 'ERR_CONTROL_CONFIG'
  override code = ControlClientConfigError.code
}

/** The client was stopped while the operation waited. */
export class ControlClientStopped extends ControlClientError {
  static override code = 'ERR_CONTROL_STOPPED'
  override code = ControlClientStopped.code
  constructor(message = 'the control client was stopped') {
    super(message)
  }
}

/** No answer: connection refused or reset, DNS failure, or nothing within the request timeout. Retryable. */
export class ControlUnreachable extends ControlClientError {
  static override code = 'ERR_CONTROL_UNREACHABLE'
  override code = ControlUnreachable.code
}

/** The control API answered with an error status. `retryable` for 408, 429 and 5xx. */
export class ControlRequestFailed extends ControlClientError {
  static override code = 'ERR_CONTROL_REQUEST_FAILED'
  override code = ControlRequestFailed.code
  readonly status: number
  /** The problem `type` URI, when the answer was problem+json. */
  readonly problemType: string | undefined
  readonly detail: string | undefined
  /** From `Retry-After`, when the control API sent one. */
  readonly retryAfterMs: number | undefined

  constructor(
    message: string,
    init: { status: number; problemType?: string; detail?: string; retryAfterMs?: number },
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.status = init.status
    this.problemType = init.problemType
    this.detail = init.detail
    this.retryAfterMs = init.retryAfterMs
  }

  get retryable(): boolean {
    return this.status === 408 || this.status === 429 || this.status >= 500
  }
}

/**
 * 401: the control API refused the credential the proxy presented (join token used up, expired or revoked;
 * workload token expired or workload revoked). Without a fresh join token the proxy cannot get it back.
 */
export class IdentityRefused extends ControlRequestFailed {
  static override code = 'ERR_CONTROL_IDENTITY_REFUSED'
  override code = IdentityRefused.code
}

/** The identity the control API issued is not for the configured service (a join token of another service). */
export class IdentityMismatch extends ControlClientError {
  static override code = 'ERR_CONTROL_IDENTITY_MISMATCH'
  override code = IdentityMismatch.code
}

/** A snapshot (from the control API or the store) that is not JSON, not `weft.snapshot/v1`, or for another service. */
export class InvalidSnapshot extends ControlClientError {
  static override code = 'ERR_CONTROL_INVALID_SNAPSHOT'
  override code = InvalidSnapshot.code
}

/** Worth trying again later: the network, timeouts, 408, 429 and 5xx. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ControlUnreachable) return true
  return err instanceof ControlRequestFailed && err.retryable
}
