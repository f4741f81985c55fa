import { SNAPSHOT_SCHEMA, type Snapshot } from '../../../mesh/src/snapshot/types'
import { InvalidSnapshot } from './control-errors'

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Parses a snapshot and checks only what the client itself relies on: the schema marker, the service it
 * is for, the revision, and that the sections the core reads are there. The control API compiled it;
 * the point is to refuse a snapshot meant for another service or written in a format this proxy does not
 * know (a newer control API), not to re-validate every policy.
 *
 * @throws InvalidSnapshot
 */
export function parseSnapshot(body: string, service: string): Snapshot {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch (err) {
    throw new InvalidSnapshot('the snapshot is not JSON', { cause: err })
  }
  if (!isObject(value)) throw new InvalidSnapshot('the snapshot is not a JSON object')
  if (value.schema !== SNAPSHOT_SCHEMA) throw new InvalidSnapshot(`the snapshot schema is ${JSON.stringify(value.schema)}, this proxy reads ${SNAPSHOT_SCHEMA}`)
  if (!isObject(value.service) || value.service.name !== service) {
    const name = isObject(value.service) ? value.service.name : undefined
    throw new InvalidSnapshot(`the snapshot is for service ${JSON.stringify(name)}, not "${service}"`)
  }
  if (!Number.isSafeInteger(value.revision) || (value.revision as number) < 0) throw new InvalidSnapshot('the snapshot has no valid revision')
  for (const section of ['tenant', 'inbound', 'outbound', 'jwks'] as const) {
    if (!isObject(value[section])) throw new InvalidSnapshot(`the snapshot has no "${section}" object`)
  }
  if (!Array.isArray(value.revokedWorkloads)) throw new InvalidSnapshot('the snapshot has no "revokedWorkloads" list')
  return value as Snapshot
}
