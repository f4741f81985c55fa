// Test fixture for bodies. Request body: streamed, each chunk upper-cased as it passes (no buffering); a request
// with `x-refuse-body` is answered 413 once its whole body has been seen; `x-trap-body` traps in the body callback. Response body: buffered (Pause until
// the end of the stream), then wrapped as `<<body|size>>`.
import {
  Action,
  BufferType,
  HttpContext,
  RootContext,
  getBufferBytes,
  getRequestHeader,
  registerRootContext,
  sendLocalResponse,
  setBufferBytes,
} from "../../sdk";

export * from "../../sdk/exports";

class BodyRewrite extends HttpContext {
  refuse: bool = false;
  trap: bool = false;
  seen: u32 = 0;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    this.refuse = getRequestHeader("x-refuse-body") != null;
    this.trap = getRequestHeader("x-trap-body") != null;
    return Action.Continue;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): Action {
    if (this.trap) unreachable();
    this.seen = bodySize; // a buffered body arrives whole: the size so far
    if (this.refuse) {
      if (!endOfStream) return Action.Pause;
      sendLocalResponse(413, "body_refused", "refused after " + this.seen.toString() + " bytes", []);
      return Action.Pause;
    }
    const chunk = getBufferBytes(BufferType.RequestBody, 0, bodySize);
    if (chunk == null) return Action.Continue;
    setBufferBytes(BufferType.RequestBody, 0, bodySize, String.UTF8.encode(String.UTF8.decode(chunk).toUpperCase()));
    return Action.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): Action {
    if (!endOfStream) return Action.Pause;
    const body = getBufferBytes(BufferType.ResponseBody, 0, bodySize);
    const text = body == null ? "" : String.UTF8.decode(body);
    setBufferBytes(BufferType.ResponseBody, 0, bodySize, String.UTF8.encode("<<" + text + "|" + bodySize.toString() + ">>"));
    return Action.Continue;
  }
}

class Root extends RootContext {
  createHttpContext(id: u32): HttpContext {
    return new BodyRewrite(id, this);
  }
}

registerRootContext((id: u32): RootContext => new Root(id));
