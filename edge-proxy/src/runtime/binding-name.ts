/**
 * The service binding the Worker proxy looks for when it calls `service`: the name in UPPER_SNAKE_CASE
 * (`payments-eu` -> `PAYMENTS_EU`). Shared by workers.ts and `weft edge build`, which writes the bindings.
 */
export function bindingName(service: string): string {
  return service.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()
}
