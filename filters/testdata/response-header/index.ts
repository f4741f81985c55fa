// Test fixture: tags the request and the response with its configured tag ({"tag": "a"}), so a test sees the
// order filters ran in both phases, and counts proxy_on_log calls (which must come after the response).
import {
  Action,
  HttpContext,
  MetricType,
  RootContext,
  addRequestHeader,
  addResponseHeader,
  defineMetric,
  getProperty,
  incrementMetric,
  parseJson,
  registerRootContext,
} from "../../sdk";

export * from "../../sdk/exports";

let logs: u32 = 0;

class TagRoot extends RootContext {
  tag: string = "";

  onConfigure(configuration: string): bool {
    const config = parseJson(configuration);
    if (config == null || !config.isObject()) return false;
    const tag = config.getString("tag");
    if (tag == null) return false;
    this.tag = tag;
    logs = defineMetric(MetricType.Counter, "response_header_logs_" + tag);
    return true;
  }

  createHttpContext(id: u32): HttpContext {
    return new Tag(id, this);
  }
}

class Tag extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    addRequestHeader("x-filter-order", changetype<TagRoot>(this.root).tag);
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    const tag = changetype<TagRoot>(this.root).tag;
    addResponseHeader("x-filter-order", tag);
    const status = getProperty("response.code");
    addResponseHeader("x-saw-status-" + tag, status == null ? "none" : "set");
    return Action.Continue;
  }

  onLog(): void {
    incrementMetric(logs, 1);
  }
}

registerRootContext((id: u32): RootContext => new TagRoot(id));
