// Test fixture: traps (wasm `unreachable`) on requests carrying `x-trap`, aborts on `x-abort`; otherwise adds `x-trap-filter: ok`
// and counts requests in a counter metric, as a telemetry filter would.
import { Action, HttpContext, MetricType, RootContext, addRequestHeader, defineMetric, getRequestHeader, incrementMetric, registerRootContext } from "../../sdk";

export * from "../../sdk/exports";

let requests: u32 = 0;

class TrapRoot extends RootContext {
  onConfigure(configuration: string): bool {
    requests = defineMetric(MetricType.Counter, "trap_filter_requests_total");
    return true;
  }

  createHttpContext(id: u32): HttpContext {
    return new TrapFilter(id, this);
  }
}

class TrapFilter extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    incrementMetric(requests, 1);
    if (getRequestHeader("x-trap") != null) unreachable();
    // AssemblyScript's abort path (assertion failure) → sdk/abort.ts → proxy_log, then a trap.
    if (getRequestHeader("x-abort") != null) assert(false, "boom");
    addRequestHeader("x-trap-filter", "ok");
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new TrapRoot(id));
