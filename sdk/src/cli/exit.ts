import { CommanderError, type Command } from 'commander'
import {
  Conflict,
  DatabaseUnavailable,
  Forbidden,
  NotConfigured,
  NotFound,
  PreconditionFailed,
  Unauthorized,
  ValidationError,
  WeftApiError,
  WeftConnectionError,
  WeftError,
  WeftTimeoutError,
} from '../index.js'

/** Exit codes scripts can rely on (sysexits.h where one fits). */
export const EXIT = {
  ok: 0,
  /** The API refused the request (400, 401, 403, 413, 500, …). */
  apiError: 1,
  /** Bad flags or arguments, or an unreadable input file: nothing was sent. */
  usage: 2,
  notFound: 3,
  /** 409 or 412: someone else changed it, or it exists already. */
  conflict: 4,
  /** Internal CLI error (EX_SOFTWARE), e.g. a missing sidecar runtime. */
  software: 70,
  /** No answer, or 503 (EX_UNAVAILABLE). */
  unavailable: 69,
} as const

/** A mistake in how the CLI was called. */
export class UsageError extends Error {
  exitCode = EXIT.usage
}

/** A failure with its own exit code and message (e.g. a wait that timed out). */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}

/** The exit code for anything thrown by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof CliFailure) return err.exitCode
  if (err instanceof NotFound) return EXIT.notFound
  if (err instanceof Conflict || err instanceof PreconditionFailed) return EXIT.conflict
  if (err instanceof WeftConnectionError || err instanceof WeftTimeoutError) return EXIT.unavailable
  if (err instanceof WeftApiError && err.status === 503) return EXIT.unavailable
  if (err instanceof WeftError) return EXIT.apiError
  return EXIT.software
}

/** One line (or a few) saying what went wrong and what to do next. */
export function describeError(err: unknown): string {
  if (err instanceof Unauthorized) return `error: ${err.message}\nhint: run weft login --url URL --api-key KEY, or set WEFT_API_KEY`
  if (err instanceof Forbidden) return `error: ${err.message}\nhint: this needs a key with a stronger role (admin or editor), or the operator key (WEFT_OPERATOR_KEY) for tenants`
  if (err instanceof ValidationError) {
    const fields = err.errors.map((e) => `  ${e.path || '(body)'}: ${e.message}`).join('\n')
    return `error: ${err.title}${err.detail ? `: ${err.detail}` : ''}${fields ? `\n${fields}` : ''}`
  }
  if (err instanceof NotFound) return `error: ${err.message}\nhint: check the name; weft get <resource> lists what exists`
  if (err instanceof PreconditionFailed) return `error: ${err.message}\nhint: it changed since it was read; run the command again`
  if (err instanceof Conflict) return `error: ${err.message}`
  if (err instanceof DatabaseUnavailable) return `error: ${err.message}\nhint: the control API cannot reach its database; try again shortly`
  if (err instanceof NotConfigured) return `error: ${err.message}\nhint: the control API lacks configuration for this; ask its operator`
  if (err instanceof WeftConnectionError || err instanceof WeftTimeoutError) {
    return `error: ${err.message}\nhint: is the control API running at that URL? check weft login, WEFT_URL or --url`
  }
  if (err instanceof WeftApiError) return `error: ${err.message}${err.requestId ? ` (request ${err.requestId})` : ''}`
  if (err instanceof UsageError || err instanceof CliFailure) return `error: ${err.message}`
  return `error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`
}

/** Parses `argv` with `program` and runs it; resolves to the exit code instead of exiting (tests share it). */
export async function runProgram(program: Command, argv: readonly string[], err: (text: string) => void): Promise<number> {
  try {
    await program.parseAsync([...argv])
    return EXIT.ok
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end through here as well, with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage
    }
    err(describeError(error) + '\n')
    return exitCodeOf(error)
  }
}
