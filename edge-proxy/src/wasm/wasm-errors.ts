/** Base class of the WASM host's errors; `code` is stable for logs and problem bodies. */
export class FilterHostError extends Error {
  static code = 'ERR_WEFT_FILTER'
  code = FilterHostError.code
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The module does not load: not a proxy-wasm module, or it imports something the host does not provide. */
export class FilterLoadError extends FilterHostError {
  static override code = 'ERR_WEFT_FILTER_LOAD'
  override code = FilterLoadError.code
}

/** The module imports functions the host does not link; `imports` names each as `module.name`. */
export class UnknownImportError extends FilterLoadError {
  static override code = 'ERR_WEFT_FILTER_UNKNOWN_IMPORT'
  override code = UnknownImportError.code
  readonly imports: readonly string[]
  constructor(imports: readonly string[]) {
    super(`filter module imports functions the host does not provide: ${imports.join(', ')}`)
    this.imports = imports
  }
}

/** The module rejected its configuration (`proxy_on_vm_start` or `proxy_on_configure` returned false). */
export class FilterConfigError extends FilterHostError {
  static override code = 'ERR_WEFT_FILTER_CONFIG'
  override code = FilterConfigError.code
}

/** The guest broke the ABI contract (no allocator, allocator returned 0, bad serialisation). */
export class FilterAbiError extends FilterHostError {
  static override code = 'ERR_WEFT_FILTER_ABI'
  override code = FilterAbiError.code
}

/** The guest called `proc_exit`: unwinds the guest stack like a trap. */
export class GuestExit extends FilterHostError {
  static override code = 'ERR_WEFT_FILTER_EXIT'
  override code = GuestExit.code
  readonly exitCode: number
  constructor(exitCode: number) {
    super(`filter called proc_exit(${exitCode})`)
    this.exitCode = exitCode
  }
}

/** The guest aborted (AssemblyScript's `abort`), with its message when one could be read. */
export class GuestAbort extends FilterHostError {
  static override code = 'ERR_WEFT_FILTER_ABORT'
  override code = GuestAbort.code
}

/** A guest call used up its fuel (meter-wasm.ts): it ran past its time budget, e.g. a loop that never ends. */
export class FilterRunawayError extends FilterHostError {
  static override code = 'ERR_WEFT_FILTER_RUNAWAY'
  override code = FilterRunawayError.code
}
