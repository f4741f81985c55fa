/**
 * Test-only: finds a rustc that can build proxy-wasm modules, i.e. one whose sysroot holds the standard library
 * for a WASI target. Weft's machines reach no crates.io and no rustup downloads, so the one such rustc is
 * Debian's (`apt-get install rustc libstd-rust-dev-wasm32`, 1.63, target `wasm32-wasi`), which .ci/run installs;
 * a rustup toolchain with `wasm32-wasip1` (its newer name) works as well where one is installed.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'

export type RustWasmToolchain = { rustc: string; target: string; version: string }

const CANDIDATES = ['/usr/bin/rustc', 'rustc']
const TARGETS = ['wasm32-wasip1', 'wasm32-wasi']

export function findRustWasmToolchain(): RustWasmToolchain | undefined {
  for (const rustc of CANDIDATES) {
    let sysroot: string
    let version: string
    try {
      sysroot = execFileSync(rustc, ['--print', 'sysroot'], { encoding: 'utf8' }).trim()
      version = execFileSync(rustc, ['--version'], { encoding: 'utf8' }).trim()
    } catch {
      continue
    }
    const target = TARGETS.find((t) => existsSync(path.join(sysroot, 'lib', 'rustlib', t, 'lib')))
    if (target) return { rustc, target, version }
  }
  return undefined
}
