// ratelimit: token buckets keyed by a request header, cookie or forwarded JWT claim, kept in proxy-wasm shared
// data so every VM of the proxy draws from the same bucket. Config:
//   {"key": {"header": "x-user"}, "rate": 10, "periodSeconds": 1, "burst": 20,
//    "perKey": {"vip-user": {"rate": 100, "burst": 200}}, "domain": "api"}
// A request over the limit gets a 429 problem+json with Retry-After and RateLimit-* headers; a request that
// passes gets the RateLimit-* headers on its response. Requests without the key share one bucket, so leaving
// the header out is no way around the limit.
import {
  Action,
  HeaderPair,
  HttpContext,
  JsonValue,
  RootContext,
  ValueSource,
  addResponseHeader,
  getCurrentTimeNanoseconds,
  hash64,
  logError,
  logWarn,
  numberField,
  parseJson,
  readSharedDataInto,
  registerRootContext,
  sendLocalResponse,
  sharedDataCasRead,
  writeSharedDataFrom,
} from "../sdk";

export * from "../sdk/exports";

// Another VM (or proxy worker) may write a bucket between our read and write; each retry re-reads it. Losing
// this many races in a row means heavy contention on one key: let the request through rather than stall it.
const MAX_CAS_ATTEMPTS = 8;
const NANOS_PER_SECOND: f64 = 1e9;
const MAX_RAW_KEY_LENGTH = 128;
// A bucket in shared data: f64 tokens, then u64 nanoseconds of the last write. Read and written through this
// static region (a filter runs one callback at a time), so a request allocates no buffer for it.
const BUCKET_SIZE: i32 = 16;
const BUCKET: usize = memory.data(16, 8);

class Limit {
  constructor(public rate: f64, public periodSeconds: f64, public burst: f64) {}

  tokensPerSecond(): f64 {
    return this.rate / this.periodSeconds;
  }

  static parse(value: JsonValue, fallback: Limit | null): Limit | null {
    const rate = numberField(value, "rate", fallback == null ? NaN : fallback.rate);
    const period = numberField(value, "periodSeconds", fallback == null ? 1 : fallback.periodSeconds);
    const burst = numberField(value, "burst", rate);
    if (!(rate > 0) || !(period > 0) || !(burst >= 1) || !isFinite(rate) || !isFinite(period) || !isFinite(burst)) {
      return null;
    }
    return new Limit(rate, period, burst);
  }
}

/** What a request saw of its bucket, for the RateLimit-* headers. */
class Decision {
  constructor(public allowed: bool, public limit: Limit, public tokens: f64) {}

  remaining(): string {
    return (<i64>Math.floor(this.tokens)).toString();
  }

  /** Seconds until the bucket is full again. */
  reset(): string {
    return (<i64>Math.ceil((this.limit.burst - this.tokens) / this.limit.tokensPerSecond())).toString();
  }

  /** Seconds until one token is back (at least 1: Retry-After is whole seconds). */
  retryAfter(): string {
    const s = Math.ceil((1 - this.tokens) / this.limit.tokensPerSecond());
    return (<i64>(s < 1 ? <f64>1 : s)).toString();
  }
}

class RateLimitRoot extends RootContext {
  key: ValueSource | null = null;
  limit: Limit = new Limit(1, 1, 1);
  perKey: Map<string, Limit> = new Map<string, Limit>();
  prefix: string = "ratelimit/default/";
  /** The last key value and its bucket's shared-data key: a client's requests come in runs. */
  lastKeyValue: string | null = null;
  lastBucketKey: string = "";

  onConfigure(configuration: string): bool {
    const config = parseJson(configuration);
    if (config == null || !config.isObject()) {
      logError("ratelimit: configuration must be a JSON object");
      return false;
    }
    const limit = Limit.parse(config, null);
    if (limit == null) {
      logError('ratelimit: "rate" and "periodSeconds" must be > 0 and "burst" >= 1');
      return false;
    }
    this.limit = limit;
    const key = config.get("key");
    if (key != null) {
      this.key = ValueSource.parse(key);
      if (this.key == null) {
        logError('ratelimit: "key" must be {"header": name}, {"cookie": name} or {"claim": name}');
        return false;
      }
    }
    const perKey = config.get("perKey");
    if (perKey != null) {
      if (!perKey.isObject() || this.key == null) {
        logError('ratelimit: "perKey" must be an object of limits and needs a "key"');
        return false;
      }
      for (let i = 0; i < perKey.keys.length; i++) {
        const name = perKey.keys[i];
        const entry = perKey.get(name);
        const parsed: Limit | null = entry == null || !entry.isObject() ? null : Limit.parse(entry, limit);
        if (parsed == null) {
          logError("ratelimit: perKey." + name + " is not a valid limit");
          return false;
        }
        this.perKey.set(name, parsed!);
      }
    }
    const domain = config.getString("domain");
    if (domain != null) this.prefix = "ratelimit/" + domain + "/";
    return true;
  }

  createHttpContext(id: u32): HttpContext {
    return new RateLimit(id, this);
  }

  bucketKey(keyValue: string | null): string {
    if (keyValue != null && keyValue == this.lastKeyValue) return this.lastBucketKey;
    // Key values come from clients: a long one is stored under its hash so shared-data keys stay small.
    const bucketKey = keyValue == null ? this.prefix + "missing"
      : keyValue.length <= MAX_RAW_KEY_LENGTH ? this.prefix + "k:" + keyValue
      : this.prefix + "h:" + hash64(keyValue).toString(16);
    this.lastKeyValue = keyValue;
    this.lastBucketKey = bucketKey;
    return bucketKey;
  }

  /** Takes one token from the bucket of `keyValue` (null: the bucket of requests without the key). */
  take(keyValue: string | null): Decision {
    let limit = this.limit;
    if (keyValue != null && this.perKey.has(keyValue)) limit = this.perKey.get(keyValue);
    const bucketKey = this.bucketKey(keyValue);
    let tokens: f64 = limit.burst;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const now = getCurrentTimeNanoseconds();
      const stored = readSharedDataInto(bucketKey, BUCKET, BUCKET_SIZE);
      tokens = limit.burst;
      let cas: u32 = 0;
      if (stored == BUCKET_SIZE) {
        const last = load<u64>(BUCKET, 8);
        const elapsed: f64 = now > last ? <f64>(now - last) / NANOS_PER_SECOND : 0;
        tokens = Math.min(limit.burst, load<f64>(BUCKET) + elapsed * limit.tokensPerSecond());
        cas = sharedDataCasRead();
      }
      // Refilling is a function of (tokens, last write), so a denied request changes nothing and writes nothing.
      if (tokens < 1) return new Decision(false, limit, tokens);
      tokens -= 1;
      store<f64>(BUCKET, tokens);
      store<u64>(BUCKET, now, 8);
      if (writeSharedDataFrom(bucketKey, BUCKET, BUCKET_SIZE, cas)) return new Decision(true, limit, tokens);
    }
    logWarn("ratelimit: bucket " + bucketKey + " kept changing under us; letting the request through");
    return new Decision(true, limit, tokens);
  }
}

class RateLimit extends HttpContext {
  decision: Decision | null = null;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const root = changetype<RateLimitRoot>(this.root);
    const source = root.key;
    const decision = root.take(source == null ? "" : source.read());
    this.decision = decision;
    if (decision.allowed) return Action.Continue;
    const retryAfter = decision.retryAfter();
    sendLocalResponse(
      429,
      "rate_limited",
      '{"type":"https://weft.dev/problems/filters/ratelimit","title":"Too Many Requests","status":429,' +
        '"detail":"rate limit exceeded; retry in ' + retryAfter + ' s"}',
      [
        new HeaderPair("content-type", "application/problem+json"),
        new HeaderPair("retry-after", retryAfter),
        new HeaderPair("ratelimit-limit", (<i64>decision.limit.burst).toString()),
        new HeaderPair("ratelimit-remaining", "0"),
        new HeaderPair("ratelimit-reset", decision.reset()),
      ],
    );
    return Action.Pause;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    const decision = this.decision;
    if (decision == null || !decision.allowed) return Action.Continue;
    addResponseHeader("ratelimit-limit", (<i64>decision.limit.burst).toString());
    addResponseHeader("ratelimit-remaining", decision.remaining());
    addResponseHeader("ratelimit-reset", decision.reset());
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new RateLimitRoot(id));
