// Test fixture: exercises host functions from a real guest and reports what it saw in request headers, so the
// host's ABI behaviour is checked end to end (properties, whole-map get/set, replace/remove, shared-data CAS,
// local responses, pause/continue).
import {
  Action,
  HeaderPair,
  HttpContext,
  MapType,
  MetricType,
  RootContext,
  addRequestHeader,
  addResponseHeader,
  BufferType,
  getBufferBytes,
  setBufferBytes,
  continueRequest,
  defineMetric,
  incrementMetric,
  recordMetric,
  setTickPeriodMilliseconds,
  getHeaders,
  getProperty,
  getRequestHeader,
  getSharedData,
  registerRootContext,
  removeRequestHeader,
  replaceRequestHeader,
  sendLocalResponse,
  setHeaders,
  setSharedData,
} from "../../sdk";

export * from "../../sdk/exports";

function orNone(value: string | null): string {
  return value == null ? "none" : value;
}

class Probe extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    if (getRequestHeader("x-probe-respond") != null) {
      sendLocalResponse(418, "probe_teapot", "short and stout", [new HeaderPair("x-local", "yes")]);
      return Action.Pause;
    }
    if (getRequestHeader("x-probe-pause") != null) return Action.Pause;
    if (getRequestHeader("x-probe-pause-continue") != null) {
      continueRequest();
      addRequestHeader("x-probe-continued", "yes");
      return Action.Pause;
    }

    // Whole-map round trip: what the host serialised must deserialise and serialise back unchanged.
    const pairs = getHeaders(MapType.RequestHeaders);
    setHeaders(MapType.RequestHeaders, pairs);
    addRequestHeader("x-probe-count", pairs.length.toString());
    addRequestHeader("x-probe-num-headers", numHeaders.toString());

    addRequestHeader("x-probe-path", orNone(getProperty("request.path")));
    addRequestHeader("x-probe-method", orNone(getProperty("request.method")));
    addRequestHeader("x-probe-principal", orNone(getProperty("source.principal")));
    addRequestHeader("x-probe-service", orNone(getProperty("destination.service")));
    addRequestHeader("x-probe-root", orNone(getProperty("plugin_root_id")));
    addRequestHeader("x-probe-missing", orNone(getProperty("no.such.property")));
    addRequestHeader("x-probe-echo", orNone(getRequestHeader("x-echo")));

    replaceRequestHeader("x-replace", "new");
    removeRequestHeader("x-remove");

    // Shared data CAS: a write with the current token succeeds, a second write with the same (stale) token fails.
    const current = getSharedData("probe-counter");
    let count: i32 = 0;
    let cas: u32 = 0;
    if (current != null) {
      count = I32.parseInt(String.UTF8.decode(current.value));
      cas = current.cas;
    }
    const next = String.UTF8.encode((count + 1).toString());
    const first = setSharedData("probe-counter", next, cas);
    const stale = current == null ? true : setSharedData("probe-counter", next, cas);
    addRequestHeader("x-probe-counter", (count + 1).toString());
    addRequestHeader("x-probe-cas", (first ? "ok" : "conflict") + "," + (stale ? "ok" : "conflict"));
    return Action.Continue;
  }

  // Buffers the whole body (Pause until end of stream), then prepends a marker and appends the body's size.
  onRequestBody(bodySize: u32, endOfStream: bool): Action {
    if (!endOfStream) return Action.Pause;
    const body = getBufferBytes(BufferType.RequestBody, 0, bodySize);
    const size = body == null ? -1 : body.byteLength;
    setBufferBytes(BufferType.RequestBody, 0, 0, String.UTF8.encode("probe:"));
    setBufferBytes(BufferType.RequestBody, 0xffffffff, 0, String.UTF8.encode(":" + size.toString()));
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    addResponseHeader("x-probe-response", numHeaders.toString());
    return Action.Continue;
  }
}

let ticks: u32 = 0;
let gauge: u32 = 0;
let histogram: u32 = 0;

class ProbeRoot extends RootContext {
  onConfigure(configuration: string): bool {
    ticks = defineMetric(MetricType.Counter, "probe_ticks_total");
    gauge = defineMetric(MetricType.Gauge, "probe_gauge");
    histogram = defineMetric(MetricType.Histogram, "probe_latency_ms");
    setTickPeriodMilliseconds(250);
    return true;
  }

  onTick(): void {
    incrementMetric(ticks, 1);
    recordMetric(gauge, 7);
    recordMetric(histogram, 30);
    incrementMetric(gauge, -2);
  }

  createHttpContext(id: u32): HttpContext {
    return new Probe(id, this);
  }
}

registerRootContext((id: u32): RootContext => new ProbeRoot(id));
