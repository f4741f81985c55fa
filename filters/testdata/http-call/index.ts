// Test fixture: asks an `authz` service before letting a request through (proxy_http_call, Pause, then
// proxy_on_http_call_response continuing the stream or answering it locally).
import {
  Action,
  HeaderPair,
  HttpContext,
  MapType,
  RootContext,
  addRequestHeader,
  continueRequest,
  getHeader,
  getHttpCallResponseBody,
  httpCall,
  registerRootContext,
  sendLocalResponse,
} from "../../sdk";

export * from "../../sdk/exports";

class AuthzCheck extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const headers: Array<HeaderPair> = [
      new HeaderPair(":method", "GET"),
      new HeaderPair(":path", "/check"),
      new HeaderPair(":authority", "authz"),
    ];
    if (httpCall("authz", headers, "", 1000) == 0) {
      sendLocalResponse(500, "authz_dispatch_failed", "", []);
    }
    return Action.Pause;
  }

  onHttpCallResponse(callId: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
    if (numHeaders == 0) {
      sendLocalResponse(503, "authz_unavailable", "", []);
      return;
    }
    const status = getHeader(MapType.HttpCallResponseHeaders, ":status");
    if (status == "200") {
      addRequestHeader("x-authz", getHttpCallResponseBody(bodySize));
      continueRequest();
    } else {
      sendLocalResponse(403, "authz_denied", "denied", []);
    }
  }
}

class Root extends RootContext {
  createHttpContext(id: u32): HttpContext {
    return new AuthzCheck(id, this);
  }
}

registerRootContext((id: u32): RootContext => new Root(id));
