// Test fixture for isolation: a request with `x-loop` spins forever, one with `x-alloc` allocates without bound
// (kept reachable, so no collector can help), `x-recurse` recurses without end; anything else gets
// `x-runaway: ok`. Only a metered module (meterWasm) with bounded memory lets the host stop the first two.
import { Action, HttpContext, RootContext, addRequestHeader, getRequestHeader, registerRootContext } from "../../sdk";

export * from "../../sdk/exports";

let spins: u64 = 0;
const hoard = new Array<ArrayBuffer>();

function recurse(n: u32): u32 {
  return n == 0xffffffff ? 0 : recurse(n + 1) + 1;
}

class Runaway extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    if (getRequestHeader("x-loop") != null) {
      while (true) spins++;
    }
    if (getRequestHeader("x-alloc") != null) {
      while (true) hoard.push(new ArrayBuffer(1 << 20));
    }
    if (getRequestHeader("x-recurse") != null) recurse(0);
    addRequestHeader("x-runaway", "ok");
    return Action.Continue;
  }
}

class Root extends RootContext {
  createHttpContext(id: u32): HttpContext {
    return new Runaway(id, this);
  }
}

registerRootContext((id: u32): RootContext => new Root(id));
