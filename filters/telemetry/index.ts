// telemetry: custom metrics and an enriched access log. Config:
//   {"prefix": "shop", "countBy": {"header": "x-tenant"}, "maxValues": 50, "latency": true,
//    "accessLog": true, "logFields": {"tenant": {"header": "x-tenant"}, "user": {"claim": "sub"}}}
// Metrics (proxy_define_metric; the proxy exports them with its own):
//   <prefix>_requests_total{<countBy name>="<value>"}  counter; without countBy, <prefix>_requests_total
//   <prefix>_responses_total{class="2xx"}              counter by response status class
//   <prefix>_request_duration_us                        histogram, request headers → end of the request
// The access log is one proxy_log record per request at info whose message is a JSON object of fields.
import {
  Action,
  HttpContext,
  JsonValue,
  LogLevel,
  MetricType,
  RootContext,
  ValueSource,
  defineMetric,
  getCurrentTimeNanoseconds,
  getRequestHeader,
  getResponseHeader,
  incrementMetric,
  jsonEscape,
  logError,
  logText,
  numberField,
  parseJson,
  recordMetric,
  registerRootContext,
  TextBuilder,
} from "../sdk";

export * from "../sdk/exports";

const MAX_LABEL_LENGTH = 64;

/** A label value Prometheus and log pipelines take as is: [A-Za-z0-9_.:-], others become "_", bounded length. */
function sanitize(value: string): string {
  let out = "";
  const n = value.length < MAX_LABEL_LENGTH ? value.length : MAX_LABEL_LENGTH;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c == 0x5f || c == 0x2e || c == 0x3a || c == 0x2d;
    out += ok ? String.fromCharCode(c) : "_";
  }
  return out;
}

class TelemetryRoot extends RootContext {
  prefix: string = "filter";
  countBy: ValueSource | null = null;
  label: string = "";
  maxValues: i32 = 50;
  latency: bool = true;
  accessLog: bool = true;
  logNames: Array<string> = [];
  logSources: Array<ValueSource> = [];
  /** Metric ids by full name, defined on first use. */
  ids: Map<string, u32> = new Map<string, u32>();
  countedValues: i32 = 0;
  byValue: Map<string, u32> = new Map<string, u32>();
  /** The raw value requestCounter found last in byValue, and its id. */
  lastRaw: string | null = null;
  lastId: u32 = 0;
  classIds: StaticArray<u32> = new StaticArray<u32>(6);
  durationId: u32 = 0;
  /** The access-log line, rebuilt per request in one buffer. */
  line: TextBuilder = new TextBuilder();

  onConfigure(configuration: string): bool {
    const config = parseJson(configuration);
    if (config == null || !config.isObject()) return fail("configuration must be a JSON object");
    const prefix = config.getString("prefix");
    if (prefix != null) {
      if (prefix.length == 0 || sanitize(prefix) != prefix) return fail('"prefix" must be [A-Za-z0-9_.:-]+');
      this.prefix = prefix;
    }
    const countBy = config.get("countBy");
    if (countBy != null) {
      this.countBy = ValueSource.parse(countBy);
      if (this.countBy == null) return fail('"countBy" must be {"header"|"cookie"|"claim": name}');
      this.label = sanitize(this.countBy!.name).replaceAll("-", "_").replaceAll(".", "_").replaceAll(":", "_");
    }
    const maxValues = numberField(config, "maxValues", 50);
    if (!(maxValues >= 1 && maxValues <= 10000)) return fail('"maxValues" must be 1–10000');
    this.maxValues = <i32>maxValues;
    this.latency = flag(config, "latency");
    this.accessLog = flag(config, "accessLog");
    const fields = config.get("logFields");
    if (fields != null) {
      if (!fields.isObject()) return fail('"logFields" must be an object of sources');
      for (let i = 0; i < fields.keys.length; i++) {
        const source = ValueSource.parse(fields.get(fields.keys[i]));
        if (source == null) return fail("logFields." + fields.keys[i] + ' must be {"header"|"cookie"|"claim": name}');
        this.logNames.push(fields.keys[i]);
        this.logSources.push(source!);
      }
    }
    if (this.latency) this.durationId = defineMetric(MetricType.Histogram, this.prefix + "_request_duration_us");
    return true;
  }

  counter(name: string): u32 {
    if (this.ids.has(name)) return this.ids.get(name);
    const id = defineMetric(MetricType.Counter, name);
    this.ids.set(name, id);
    return id;
  }

  /** The request counter for a countBy value; past maxValues distinct values, new ones count as "other". */
  requestCounter(value: string | null): u32 {
    // Keyed by the raw value so a repeat costs one lookup, no name building.
    const raw = value == null ? "\0none" : value;
    // A client's requests come in runs: the last value answers without hashing it twice (has, get).
    if (raw == this.lastRaw) return this.lastId;
    if (this.byValue.has(raw)) {
      const known = this.byValue.get(raw);
      this.lastRaw = raw;
      this.lastId = known;
      return known;
    }
    let id: u32;
    if (this.countBy == null) {
      id = this.counter(this.prefix + "_requests_total");
    } else {
      const label = value == null ? "none" : sanitize(value);
      const name = this.prefix + "_requests_total{" + this.label + '="' + label + '"}';
      if (this.ids.has(name)) id = this.ids.get(name);
      else if (this.countedValues >= this.maxValues) {
        // Not remembered by value: distinct overflow values must not grow this map either.
        return this.counter(this.prefix + "_requests_total{" + this.label + '="other"}');
      } else {
        this.countedValues++;
        id = this.counter(name);
      }
    }
    this.byValue.set(raw, id);
    return id;
  }

  /** The responses counter for a status class ("1xx"…"5xx", or "none"). */
  responseCounter(status: string): u32 {
    const digit = status.length == 3 ? status.charCodeAt(0) - 0x30 : 0;
    const slot = digit >= 1 && digit <= 5 ? digit : 0;
    if (this.classIds[slot] == 0) {
      const label = slot == 0 ? "none" : slot.toString() + "xx";
      this.classIds[slot] = this.counter(this.prefix + '_responses_total{class="' + label + '"}');
    }
    return this.classIds[slot];
  }

  createHttpContext(id: u32): HttpContext {
    return new Telemetry(id, this);
  }
}

function flag(config: JsonValue, key: string): bool {
  const v = config.get(key);
  return v == null || v.bool;
}

function fail(message: string): bool {
  logError("telemetry: " + message);
  return false;
}

class Telemetry extends HttpContext {
  start: u64 = 0;
  method: string = "";
  path: string = "";
  status: string = "";
  fields: string = "";

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const root = changetype<TelemetryRoot>(this.root);
    this.start = getCurrentTimeNanoseconds();
    const countBy = root.countBy;
    incrementMetric(root.requestCounter(countBy == null ? null : countBy.read()), 1);
    if (root.accessLog) {
      const method = getRequestHeader(":method");
      const path = getRequestHeader(":path");
      this.method = method == null ? "" : method;
      this.path = path == null ? "" : path;
      // Read now: a later filter may strip the header (api-key-auth does) before the log is written.
      let fields = "";
      for (let i = 0; i < root.logSources.length; i++) {
        const value = root.logSources[i].read();
        if (value == null) continue;
        fields += ',"' + jsonEscape(root.logNames[i]) + '":"' + jsonEscape(value) + '"';
      }
      this.fields = fields;
    }
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    const status = getResponseHeader(":status");
    if (status != null) this.status = status;
    return Action.Continue;
  }

  onLog(): void {
    const root = changetype<TelemetryRoot>(this.root);
    const now = getCurrentTimeNanoseconds();
    const micros = now > this.start ? (now - this.start) / 1000 : 0;
    if (root.latency) recordMetric(root.durationId, micros);
    incrementMetric(root.responseCounter(this.status), 1);
    if (!root.accessLog) return;
    const line = root.line.reset().str('{"msg":"access","method":"').json(this.method).str('","path":"').json(this.path)
      .str('","status":').str(this.status.length == 3 ? this.status : "null").str(',"duration_us":').u64(micros)
      .str(this.fields).str("}");
    logText(LogLevel.Info, line);
  }
}

registerRootContext((id: u32): RootContext => new TelemetryRoot(id));
