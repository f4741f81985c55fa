// cors: answers CORS preflights locally and adds CORS headers to responses. Config:
//   {"allowOrigins": ["https://app.example.com", "https://*.example.com"], "allowMethods": ["GET", "POST"],
//    "allowHeaders": ["content-type", "authorization"], "exposeHeaders": ["x-request-id"], "maxAge": 600,
//    "allowCredentials": true}
// "*" in allowOrigins allows any origin (not with allowCredentials: browsers refuse that pairing); "*" in
// allowHeaders allows any requested header.
import {
  Action,
  HeaderPair,
  HttpContext,
  JsonValue,
  RootContext,
  addResponseHeader,
  getRequestHeader,
  logError,
  numberField,
  parseJson,
  registerRootContext,
  replaceResponseHeader,
  sendLocalResponse,
  stringArrayField,
} from "../sdk";

export * from "../sdk/exports";

const DEFAULT_METHODS: Array<string> = ["GET", "HEAD", "POST"];

class CorsRoot extends RootContext {
  anyOrigin: bool = false;
  origins: Set<string> = new Set<string>();
  /** Suffixes from "https://*.example.com" entries: scheme + "://" and "." + domain. */
  wildcardSchemes: Array<string> = [];
  wildcardSuffixes: Array<string> = [];
  methods: Array<string> = DEFAULT_METHODS;
  anyHeader: bool = false;
  headers: Set<string> = new Set<string>();
  allowHeadersValue: string = "";
  exposeHeaders: string = "";
  maxAge: i64 = -1;
  credentials: bool = false;

  onConfigure(configuration: string): bool {
    const config = parseJson(configuration);
    if (config == null || !config.isObject()) return fail("configuration must be a JSON object");
    const origins = stringArrayField(config, "allowOrigins");
    if (origins == null || origins.length == 0) return fail('"allowOrigins" must be a non-empty array of strings');
    for (let i = 0; i < origins.length; i++) {
      const origin = origins[i];
      if (origin == "*") {
        this.anyOrigin = true;
        continue;
      }
      const star = origin.indexOf("://*.");
      if (star > 0) {
        this.wildcardSchemes.push(origin.substring(0, star + 3).toLowerCase());
        this.wildcardSuffixes.push(origin.substring(star + 4).toLowerCase());
      } else {
        this.origins.add(origin.toLowerCase());
      }
    }
    if (config.get("allowMethods") != null) {
      const methods = stringArrayField(config, "allowMethods");
      if (methods == null || methods.length == 0) return fail('"allowMethods" must be a non-empty array of strings');
      for (let i = 0; i < methods.length; i++) methods[i] = methods[i].toUpperCase();
      this.methods = methods;
    }
    const allowHeaders = config.get("allowHeaders") == null ? new Array<string>() : stringArrayField(config, "allowHeaders");
    if (allowHeaders == null) return fail('"allowHeaders" must be an array of strings');
    for (let i = 0; i < allowHeaders.length; i++) {
      if (allowHeaders[i] == "*") this.anyHeader = true;
      else this.headers.add(allowHeaders[i].toLowerCase());
    }
    this.allowHeadersValue = allowHeaders.join(", ");
    const expose = config.get("exposeHeaders") == null ? new Array<string>() : stringArrayField(config, "exposeHeaders");
    if (expose == null) return fail('"exposeHeaders" must be an array of strings');
    this.exposeHeaders = expose.join(", ");
    const maxAge = numberField(config, "maxAge", -1);
    if (config.get("maxAge") != null && !(maxAge >= 0 && maxAge <= 86400 && Math.floor(maxAge) == maxAge)) {
      return fail('"maxAge" must be whole seconds, 0–86400');
    }
    this.maxAge = <i64>maxAge;
    const credentials: JsonValue | null = config.get("allowCredentials");
    this.credentials = credentials != null && credentials.bool;
    if (this.credentials && this.anyOrigin) return fail('"allowCredentials" cannot be combined with the origin "*"');
    return true;
  }

  allows(origin: string): bool {
    if (this.anyOrigin) return true;
    const o = origin.toLowerCase();
    if (this.origins.has(o)) return true;
    for (let i = 0; i < this.wildcardSuffixes.length; i++) {
      const scheme = this.wildcardSchemes[i];
      const suffix = this.wildcardSuffixes[i];
      // "https://*.example.com" matches "https://a.example.com", not "https://example.com" or "https://evilexample.com".
      if (o.startsWith(scheme) && o.endsWith(suffix) && o.length > scheme.length + suffix.length) return true;
    }
    return false;
  }

  /** Access-Control-Allow-Origin: "*" only when any origin is allowed and no credentials are involved. */
  allowOriginValue(origin: string): string {
    return this.anyOrigin && !this.credentials ? "*" : origin;
  }

  createHttpContext(id: u32): HttpContext {
    return new Cors(id, this);
  }
}

function fail(message: string): bool {
  logError("cors: " + message);
  return false;
}

function reject(detail: string): Action {
  sendLocalResponse(
    403,
    "cors_rejected",
    '{"type":"https://weft.dev/problems/filters/cors","title":"CORS request not allowed","status":403,"detail":"' +
      detail + '"}',
    [new HeaderPair("content-type", "application/problem+json"), new HeaderPair("vary", "origin")],
  );
  return Action.Pause;
}

class Cors extends HttpContext {
  /** The request's Origin when it is allowed; the response gets CORS headers only then. */
  origin: string | null = null;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const root = changetype<CorsRoot>(this.root);
    const origin = getRequestHeader("origin");
    if (origin == null) return Action.Continue;
    const requestedMethod = getRequestHeader("access-control-request-method");
    const method = getRequestHeader(":method");
    if (method == "OPTIONS" && requestedMethod != null) return this.preflight(root, origin, requestedMethod);
    if (root.allows(origin)) this.origin = origin;
    return Action.Continue;
  }

  preflight(root: CorsRoot, origin: string, requestedMethod: string): Action {
    if (!root.allows(origin)) return reject("origin not allowed");
    if (!root.methods.includes(requestedMethod.toUpperCase())) return reject("method not allowed");
    const requested = getRequestHeader("access-control-request-headers");
    let allowHeaders = root.allowHeadersValue;
    if (requested != null && requested.trim().length > 0) {
      if (root.anyHeader) {
        allowHeaders = requested;
      } else {
        const names = requested.split(",");
        for (let i = 0; i < names.length; i++) {
          const name = names[i].trim().toLowerCase();
          if (name.length > 0 && !root.headers.has(name)) return reject("header " + name + " not allowed");
        }
      }
    }
    const headers: Array<HeaderPair> = [
      new HeaderPair("access-control-allow-origin", root.allowOriginValue(origin)),
      new HeaderPair("access-control-allow-methods", root.methods.join(", ")),
      new HeaderPair("vary", "origin, access-control-request-method, access-control-request-headers"),
    ];
    if (allowHeaders.length > 0) headers.push(new HeaderPair("access-control-allow-headers", allowHeaders));
    if (root.maxAge >= 0) headers.push(new HeaderPair("access-control-max-age", root.maxAge.toString()));
    if (root.credentials) headers.push(new HeaderPair("access-control-allow-credentials", "true"));
    sendLocalResponse(204, "cors_preflight", "", headers);
    return Action.Pause;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    const origin = this.origin;
    if (origin == null) return Action.Continue;
    const root = changetype<CorsRoot>(this.root);
    // Replace, not add: an upstream that sets its own CORS headers must not end up with two values.
    replaceResponseHeader("access-control-allow-origin", root.allowOriginValue(origin));
    addResponseHeader("vary", "origin");
    if (root.credentials) replaceResponseHeader("access-control-allow-credentials", "true");
    if (root.exposeHeaders.length > 0) replaceResponseHeader("access-control-expose-headers", root.exposeHeaders);
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new CorsRoot(id));
