// Where a filter reads a per-request value from, as configured: {"header": "x-user"}, {"cookie": "uid"} or
// {"claim": "sub"} (a claim jwt-auth forwarded as the header x-jwt-claim-<name>).
import { getRequestHeader } from "./host";
import { JsonValue } from "./json";
import { cookieValue } from "./util";

/** The header jwt-auth forwards a verified claim in; claim-route and ratelimit read claims from it. */
export const CLAIM_HEADER_PREFIX = "x-jwt-claim-";

export class ValueSource {
  constructor(public kind: string, public name: string) {}

  /** Parses {"header"|"cookie"|"claim": name}; null when the object names none (or more than one). */
  static parse(value: JsonValue | null): ValueSource | null {
    if (value == null || !value.isObject() || value.keys.length != 1) return null;
    const kind = value.keys[0];
    const name = value.getString(kind);
    if (name == null || name.length == 0) return null;
    if (kind == "header") return new ValueSource(kind, name.toLowerCase());
    if (kind == "claim") return new ValueSource(kind, name.toLowerCase());
    if (kind == "cookie") return new ValueSource(kind, name);
    return null;
  }

  /** The value in the current request, or null when absent. */
  read(): string | null {
    if (this.kind == "header") return getRequestHeader(this.name);
    if (this.kind == "claim") return getRequestHeader(CLAIM_HEADER_PREFIX + this.name);
    return cookieValue(getRequestHeader("cookie"), this.name);
  }

  describe(): string {
    return this.kind + ":" + this.name;
  }
}
