import { LogLevel } from "./abi";
import { proxy_log } from "./imports";

// AssemblyScript calls `abort` on a failed assertion, an out-of-bounds access or an allocation failure. The
// build points it here (`--use abort=sdk/abort/proxyAbort`) so modules import no `env.abort`, which hosts other
// than Weft do not provide: log through proxy_log, then trap.
export function proxyAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const text = "abort: " + (message == null ? "" : message) + " at " + (fileName == null ? "?" : fileName) + ":" +
    line.toString() + ":" + column.toString();
  const bytes = String.UTF8.encode(text);
  proxy_log(LogLevel.Critical, changetype<usize>(bytes), bytes.byteLength);
  unreachable();
}
