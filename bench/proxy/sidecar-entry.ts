/**
 * `weft sidecar` as a deployed sidecar runs it: the CLI's own flag checking (sidecarOptions) and the real
 * runSidecar, bundled into one JavaScript file and run by plain `node`, so the process holds the proxy and
 * nothing else (from a checkout, `weft sidecar` also carries tsx's TypeScript loader; the benchmark
 * measures that form's memory too). Flags as the CLI's: `--control-url URL --join-token wfj_… …`.
 */
import { sidecarOptions } from '../../sdk/src/cli/commands/sidecar'
import { runSidecar } from '../../edge-proxy/src/runtime/node'

const flags: Record<string, string> = {}
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i += 2) flags[argv[i]!.replace(/^--/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase())] = argv[i + 1]!
const sidecar = await runSidecar(sidecarOptions(flags, process.env))
const stop = () => void sidecar.close().then(() => process.exit(0))
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
