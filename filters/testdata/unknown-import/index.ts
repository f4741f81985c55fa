// Test fixture: imports a host function no proxy-wasm host provides, so loading it must fail naming it.
import { Action, HttpContext, RootContext, registerRootContext } from "../../sdk";

export * from "../../sdk/exports";

// @ts-ignore: decorator
@external("env", "weft_not_a_host_function")
declare function weft_not_a_host_function(): u32;

class Filter extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    return weft_not_a_host_function() == 0 ? Action.Continue : Action.Pause;
  }
}

class Root extends RootContext {
  createHttpContext(id: u32): HttpContext {
    return new Filter(id, this);
  }
}

registerRootContext((id: u32): RootContext => new Root(id));
