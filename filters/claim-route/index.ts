// claim-route: sets routing headers from cookies, request headers or forwarded JWT claims, or for a sticky
// percentage of users, so a Route policy can match on them. Config:
//   {"rules": [
//     {"set": "x-weft-canary", "value": "v2", "from": {"cookie": "uid"}, "percent": 10},
//     {"set": "x-plan", "from": {"claim": "plan"}},
//     {"set": "x-weft-beta", "value": "on", "from": {"header": "x-beta"}, "equals": "1"}]}
// The headers a rule sets are first removed from the incoming request: a client cannot pick its own route.
import {
  Action,
  HttpContext,
  JsonValue,
  RootContext,
  ValueSource,
  FNV_OFFSET_BASIS,
  fnv1a64,
  percentBucketAfter,
  logError,
  numberField,
  parseJson,
  registerRootContext,
  removeRequestHeader,
  replaceRequestHeader,
} from "../sdk";

export * from "../sdk/exports";

class Rule {
  set: string = "";
  from: ValueSource = new ValueSource("header", "");
  /** null: copy the source's value. */
  value: string | null = null;
  equals: string | null = null;
  /** Basis points (percent × 100), or -1 when the rule is not a percentage split. */
  threshold: i32 = -1;
  salt: string = "";
  /** The sticky hash's state after `<salt>:`, so a request hashes only its own value (hashPercentBucket). */
  saltState: u64 = FNV_OFFSET_BASIS;

  /** The header value this rule sets for the current request, or null when it does not apply. */
  apply(): string | null {
    const source = this.from.read();
    if (source == null) return null;
    if (this.threshold >= 0) {
      return <i32>percentBucketAfter(this.saltState, source) < this.threshold ? this.value : null;
    }
    if (this.equals != null) return source == this.equals ? this.value : null;
    return this.value != null ? this.value : source;
  }

  static parse(v: JsonValue, index: i32): Rule | null {
    const where = "claim-route: rules[" + index.toString() + "]";
    if (!v.isObject()) {
      logError(where + " must be an object");
      return null;
    }
    const rule = new Rule();
    const set = v.getString("set");
    const from = ValueSource.parse(v.get("from"));
    if (set == null || set.length == 0 || from == null) {
      logError(where + ' needs "set" (a header name) and "from" ({"header"|"cookie"|"claim": name})');
      return null;
    }
    rule.set = set.toLowerCase();
    rule.from = from;
    rule.value = v.getString("value");
    rule.equals = v.getString("equals");
    const percent = numberField(v, "percent", -1);
    if (v.get("percent") != null) {
      if (!(percent >= 0 && percent <= 100) || rule.value == null || rule.equals != null) {
        logError(where + ': "percent" must be 0–100, with a "value" and without "equals"');
        return null;
      }
      rule.threshold = <i32>Math.round(percent * 100);
    }
    if (rule.equals != null && rule.value == null) {
      logError(where + ': "equals" needs a "value" to set');
      return null;
    }
    // The salt keeps experiments independent: the 10% in one split are not the same users as in another.
    const salt = v.getString("salt");
    rule.salt = salt != null ? salt : rule.set;
    rule.saltState = fnv1a64(FNV_OFFSET_BASIS, rule.salt + ":");
    return rule;
  }
}

class ClaimRouteRoot extends RootContext {
  rules: Array<Rule> = [];
  /** One request's rule values, reused: a filter runs one callback at a time. */
  values: Array<string | null> = [];

  onConfigure(configuration: string): bool {
    const config = parseJson(configuration);
    const rules: JsonValue | null = config == null ? null : config.get("rules");
    if (rules == null || !rules.isArray() || rules.items.length == 0) {
      logError('claim-route: configuration needs a non-empty "rules" array');
      return false;
    }
    for (let i = 0; i < rules.items.length; i++) {
      const rule = Rule.parse(rules.items[i], i);
      if (rule == null) return false;
      this.rules.push(rule);
      this.values.push(null);
    }
    return true;
  }

  createHttpContext(id: u32): HttpContext {
    return new ClaimRoute(id, this);
  }
}

class ClaimRoute extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const root = changetype<ClaimRouteRoot>(this.root);
    const rules = root.rules;
    const values = root.values;
    // Read every source before touching headers, so one rule's output never feeds another rule.
    for (let i = 0; i < rules.length; i++) values[i] = rules[i].apply();
    for (let i = 0; i < rules.length; i++) removeRequestHeader(rules[i].set);
    for (let i = 0; i < rules.length; i++) {
      const value = values[i];
      if (value != null) replaceRequestHeader(rules[i].set, value);
      values[i] = null;
    }
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new ClaimRouteRoot(id));
