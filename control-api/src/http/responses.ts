import { ProblemSchema } from '../schemas/common'

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ProblemSchema } } })

/** The error answers every authenticated route can give, for the OpenAPI document. */
export const errorResponses = {
  400: problem('Invalid input: malformed JSON, wrong types, unknown fields.'),
  401: problem('Missing or invalid credentials.'),
  403: problem('The credentials are valid but may not do this.'),
  404: problem('Not found, or not yours.'),
  413: problem('Body too large.'),
  503: problem('The database is unreachable.'),
} as const

export const conflictResponses = {
  409: problem('Conflicts with an existing resource.'),
  412: problem('If-Match does not match the current version.'),
} as const

export function json<T>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } }
}
