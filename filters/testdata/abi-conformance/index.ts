// Test fixture: ABI conformance cases the SDK does not cover, reported as request headers `x-r-*` (the test
// reads what the host did from inside a real guest). `x-case` picks the case:
//   maps     - empty, repeated, large and non-ASCII header values, read back and written from the guest
//   queue    - shared queues: resolve, enqueue; the root's proxy_on_queue_ready dequeues into shared data
//   foreign  - proxy_call_foreign_function: a registered name and an unknown one
//   wasi     - fd_write, clock_time_get, random_get called as a WASI program would
//   metrics  - counter, gauge and histogram, and proxy_get_metric
// Queue, foreign-function, metric-read and WASI calls use raw imports (the SDK has no wrappers for them).
import {
  Action,
  HttpContext,
  MapType,
  MetricType,
  RootContext,
  addRequestHeader,
  defineMetric,
  getHeaders,
  getRequestHeader,
  incrementMetric,
  recordMetric,
  registerRootContext,
  setSharedData,
} from "../../sdk";

export * from "../../sdk/exports";

// @ts-ignore: decorator
@external("env", "proxy_register_shared_queue")
declare function proxy_register_shared_queue(namePtr: usize, nameSize: usize, returnId: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_resolve_shared_queue")
declare function proxy_resolve_shared_queue(vmPtr: usize, vmSize: usize, namePtr: usize, nameSize: usize, returnId: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_enqueue_shared_queue")
declare function proxy_enqueue_shared_queue(id: u32, valuePtr: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_dequeue_shared_queue")
declare function proxy_dequeue_shared_queue(id: u32, returnPtr: usize, returnSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_call_foreign_function")
declare function proxy_call_foreign_function(namePtr: usize, nameSize: usize, argsPtr: usize, argsSize: usize, returnPtr: usize, returnSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_metric")
declare function proxy_get_metric(id: u32, returnValue: usize): u32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovsLen: u32, nwritten: usize): u32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(clock: u32, precision: u64, time: usize): u32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): u32;

const RET_PTR: usize = memory.data(8);
const RET_SIZE: usize = memory.data(8);
const SCRATCH: usize = memory.data(64);

let queueId: u32 = 0;
let counter: u32 = 0;
let gauge: u32 = 0;
let histogram: u32 = 0;

function returned(): string {
  const ptr = load<usize>(RET_PTR);
  const size = load<u32>(RET_SIZE);
  if (ptr == 0) return "";
  const s = String.UTF8.decodeUnsafe(ptr, size);
  heap.free(ptr);
  return s;
}

function report(name: string, value: string): void {
  addRequestHeader("x-r-" + name, value);
}

function str(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

class Conformance extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const c = getRequestHeader("x-case");
    if (c == "maps") this.maps();
    else if (c == "queue") this.queue();
    else if (c == "foreign") this.foreign();
    else if (c == "wasi") this.wasi();
    else if (c == "metrics") this.metrics();
    return Action.Continue;
  }

  maps(): void {
    const empty = getRequestHeader("x-in-empty");
    report("empty", empty == null ? "missing" : "present:" + empty.length.toString());
    report("absent", getRequestHeader("x-in-absent") == null ? "missing" : "present");
    // get returns the first of a repeated header; the whole map keeps every occurrence in order.
    report("rep-first", getRequestHeader("x-in-rep")!);
    const pairs = getHeaders(MapType.RequestHeaders);
    let reps = "";
    for (let i = 0; i < pairs.length; i++) if (pairs[i].key == "x-in-rep") reps += pairs[i].value + ";";
    report("rep-all", reps);
    const large = getRequestHeader("x-in-large")!;
    report("large", large.length.toString());
    // Non-ASCII: the client's bytes (UTF-8 of "héllo ☃") reach the guest unchanged.
    const text = getRequestHeader("x-in-utf8")!;
    report("utf8-bytes", String.UTF8.byteLength(text).toString());
    report("utf8-eq", text == "héllo ☃" ? "yes" : "no");
    addRequestHeader("x-out-utf8", "grüße");
    addRequestHeader("x-out-empty", "");
  }

  queue(): void {
    const name = str("conformance");
    const vm = str("");
    const status = proxy_resolve_shared_queue(changetype<usize>(vm), 0, changetype<usize>(name), name.byteLength, SCRATCH);
    report("resolve", status.toString() + ":" + (load<u32>(SCRATCH) == queueId ? "same" : "other"));
    const missing = str("no-such-queue");
    report("resolve-missing", proxy_resolve_shared_queue(changetype<usize>(vm), 0, changetype<usize>(missing), missing.byteLength, SCRATCH).toString());
    const item = str(getRequestHeader("x-item")!);
    report("enqueue", proxy_enqueue_shared_queue(queueId, changetype<usize>(item), item.byteLength).toString());
    report("enqueue-missing", proxy_enqueue_shared_queue(9999, changetype<usize>(item), item.byteLength).toString());
  }

  foreign(): void {
    const args = str("ping");
    const name = str("weft.test_echo");
    const status = proxy_call_foreign_function(changetype<usize>(name), name.byteLength, changetype<usize>(args), args.byteLength, RET_PTR, RET_SIZE);
    report("foreign", status.toString() + ":" + (status == 0 ? returned() : ""));
    const unknown = str("weft.no_such_function");
    report("foreign-unknown", proxy_call_foreign_function(changetype<usize>(unknown), unknown.byteLength, changetype<usize>(args), args.byteLength, RET_PTR, RET_SIZE).toString());
    const throws = str("weft.test_throws");
    report("foreign-throws", proxy_call_foreign_function(changetype<usize>(throws), throws.byteLength, changetype<usize>(args), args.byteLength, RET_PTR, RET_SIZE).toString());
  }

  wasi(): void {
    const line = str("hello from wasi\n");
    store<u32>(SCRATCH, changetype<usize>(line));
    store<u32>(SCRATCH + 4, line.byteLength);
    const written = fd_write(1, SCRATCH, 1, SCRATCH + 8);
    report("fd-write", written.toString() + ":" + load<u32>(SCRATCH + 8).toString());
    const clock = clock_time_get(0, 1, SCRATCH + 16);
    report("clock", clock.toString() + ":" + (load<u64>(SCRATCH + 16) / 1000000).toString());
    const mono = clock_time_get(1, 1, SCRATCH + 24);
    report("monotonic", mono.toString() + ":" + (load<u64>(SCRATCH + 24) > 0 ? "positive" : "zero"));
    memory.fill(SCRATCH + 32, 0, 32);
    const random = random_get(SCRATCH + 32, 32);
    let nonzero = 0;
    for (let i: usize = 0; i < 32; i++) if (load<u8>(SCRATCH + 32 + i) != 0) nonzero++;
    report("random", random.toString() + ":" + (nonzero > 0 ? "filled" : "zeros"));
  }

  metrics(): void {
    incrementMetric(counter, 2);
    recordMetric(gauge, 5);
    incrementMetric(gauge, -1);
    recordMetric(histogram, 10);
    recordMetric(histogram, 20);
    const status = proxy_get_metric(counter, SCRATCH);
    report("counter", status.toString() + ":" + load<u64>(SCRATCH).toString());
  }
}

class ConformanceRoot extends RootContext {
  onConfigure(configuration: string): bool {
    const name = str("conformance");
    if (proxy_register_shared_queue(changetype<usize>(name), name.byteLength, SCRATCH) != 0) return false;
    queueId = load<u32>(SCRATCH);
    counter = defineMetric(MetricType.Counter, "conformance_requests_total");
    gauge = defineMetric(MetricType.Gauge, "conformance_in_flight");
    histogram = defineMetric(MetricType.Histogram, "conformance_latency_ms");
    return true;
  }

  createHttpContext(id: u32): HttpContext {
    return new Conformance(id, this);
  }
}

registerRootContext((id: u32): RootContext => new ConformanceRoot(id));

// The host calls this on the root context of the VM that registered the queue, after an enqueue.
export function proxy_on_queue_ready(rootId: u32, id: u32): void {
  let drained = "";
  for (;;) {
    const status = proxy_dequeue_shared_queue(id, RET_PTR, RET_SIZE);
    if (status != 0) {
      drained += "|" + status.toString();
      break;
    }
    drained += returned() + ",";
  }
  setSharedData("queue-drained", str(drained), 0);
}
