// Where a filter reads a per-request value from, as configured: {"header": "x-user"}, {"cookie": "uid"} or
// {"claim": "sub"} (a claim jwt-auth forwarded as the header x-jwt-claim-<name>).
import { getRequestHeader } from "./host";
import { JsonValue } from "./json";
import { cookieValue } from "./util";

/** The header jwt-auth forwards a verified claim in; claim-route and ratelimit read claims from it. */
export const CLAIM_HEADER_PREFIX = "x-jwt-claim-";

/**
 * The header a claim travels in: x-jwt-claim-<name>, lower-cased, with every character outside [a-z0-9-] as "-"
 * (claim names such as "https://example.com/roles" are not header tokens).
 */
export function claimHeader(claim: string): string {
  const lower = claim.toLowerCase();
  let out = CLAIM_HEADER_PREFIX;
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    out += (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d ? String.fromCharCode(c) : "-";
  }
  return out;
}

export class ValueSource {
  /** The request header read for this source (a claim's x-jwt-claim-<name>), worked out once, not per request. */
  header: string;

  constructor(public kind: string, public name: string) {
    this.header = kind == "claim" ? claimHeader(name) : kind == "cookie" ? "cookie" : name;
  }

  /** Parses {"header"|"cookie"|"claim": name}; null when the object names none (or more than one). */
  static parse(value: JsonValue | null): ValueSource | null {
    if (value == null || !value.isObject() || value.keys.length != 1) return null;
    const kind = value.keys[0];
    const name = value.getString(kind);
    if (name == null || name.length == 0) return null;
    if (kind == "header") return new ValueSource(kind, name.toLowerCase());
    if (kind == "claim") return new ValueSource(kind, name);
    if (kind == "cookie") return new ValueSource(kind, name);
    return null;
  }

  /** The value in the current request, or null when absent. */
  read(): string | null {
    if (this.kind == "cookie") return cookieValue(getRequestHeader("cookie"), this.name);
    return getRequestHeader(this.header);
  }

  describe(): string {
    return this.kind + ":" + this.name;
  }
}
