import { OpenAPIHono } from '@hono/zod-openapi'
import type { z } from 'zod'
import type { AppEnv } from '../context'
import { ValidationError, type FieldError } from '../errors'

/** zod issues → the `errors[]` of a validation problem, one entry per field, paths dotted. */
export function fieldErrors(issues: readonly z.core.$ZodIssue[], target?: string): FieldError[] {
  const prefix = target && target !== 'json' ? `${target}.` : ''
  const out: FieldError[] = []
  for (const issue of issues) {
    const base = issue.path.map(String).join('.')
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: prefix + (base ? `${base}.${key}` : key), message: 'unknown field', code: issue.code })
    } else {
      out.push({ path: prefix + base, message: issue.message, code: issue.code })
    }
  }
  return out
}

/** Every route module builds its router here so validation failures all become the same problem. */
export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ValidationError(fieldErrors(result.error.issues, (result as { target?: string }).target))
      }
    },
  })
}

export const bearerSecurity = [{ bearer: [] as string[] }]
