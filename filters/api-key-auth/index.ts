// api-key-auth: lets a request through only when a header carries one of the configured keys; otherwise a
// 401 local response. Config: {"header": "x-api-key", "keys": ["k1", "k2"]}; "header" defaults to x-api-key.
// The key header is removed before forwarding so the upstream never sees the credential.
import {
  Action,
  HeaderPair,
  HttpContext,
  RootContext,
  getRequestHeader,
  logError,
  parseJson,
  registerRootContext,
  removeRequestHeader,
  sendLocalResponse,
} from "../sdk";

export * from "../sdk/exports";

const DEFAULT_HEADER = "x-api-key";

class ApiKeyRoot extends RootContext {
  header: string = DEFAULT_HEADER;
  keys: Set<string> = new Set<string>();

  onConfigure(configuration: string): bool {
    const config = parseJson(configuration);
    if (config == null || !config.isObject()) {
      logError("api-key-auth: configuration must be a JSON object");
      return false;
    }
    const header = config.getString("header");
    if (header != null) this.header = header.toLowerCase();
    const keys = config.get("keys");
    if (keys == null || !keys.isArray() || keys.items.length == 0) {
      logError('api-key-auth: configuration needs a non-empty "keys" array');
      return false;
    }
    for (let i = 0; i < keys.items.length; i++) {
      const key = keys.items[i];
      if (!key.isString() || key.str.length == 0) {
        logError('api-key-auth: every entry of "keys" must be a non-empty string');
        return false;
      }
      this.keys.add(key.str);
    }
    return true;
  }

  createHttpContext(id: u32): HttpContext {
    return new ApiKeyAuth(id, this);
  }
}

class ApiKeyAuth extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const root = changetype<ApiKeyRoot>(this.root);
    const presented = getRequestHeader(root.header);
    if (presented != null && root.keys.has(presented)) {
      removeRequestHeader(root.header);
      return Action.Continue;
    }
    const headers: Array<HeaderPair> = [
      new HeaderPair("content-type", "application/problem+json"),
      new HeaderPair("www-authenticate", 'ApiKey header="' + root.header + '"'),
    ];
    const detail = presented == null ? "missing API key" : "invalid API key";
    sendLocalResponse(
      401,
      "api_key_rejected",
      '{"type":"https://weft.dev/problems/filters/api-key-auth","title":"Unauthorized","status":401,"detail":"' +
        detail + '"}',
      headers,
    );
    return Action.Pause;
  }
}

registerRootContext((id: u32): RootContext => new ApiKeyRoot(id));
