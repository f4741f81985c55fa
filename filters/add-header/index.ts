// add-header: adds one request header. Config: {"name": "x-weft-example", "value": "1"}.
// The smallest useful filter: copy it to start a new one.
import { Action, HttpContext, RootContext, addRequestHeader, logError, parseJson, registerRootContext } from "../sdk";

export * from "../sdk/exports";

class AddHeaderRoot extends RootContext {
  name: string = "";
  value: string = "";

  onConfigure(configuration: string): bool {
    const config = parseJson(configuration);
    if (config == null || !config.isObject()) {
      logError("add-header: configuration must be a JSON object");
      return false;
    }
    const name = config.getString("name");
    const value = config.getString("value");
    if (name == null || name.length == 0 || value == null) {
      logError('add-header: configuration needs string "name" and "value"');
      return false;
    }
    this.name = name.toLowerCase();
    this.value = value;
    return true;
  }

  createHttpContext(id: u32): HttpContext {
    return new AddHeader(id, this);
  }
}

class AddHeader extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const root = changetype<AddHeaderRoot>(this.root);
    addRequestHeader(root.name, root.value);
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new AddHeaderRoot(id));
