// The Node sidecar as a program of its own: what `npm run build:sidecar` bundles into
// dist/sidecar/weft-sidecar.mjs for containers (plain `node`, no TypeScript loader, no CLI besides it).
// Its flags, checks and exit codes are `weft sidecar`'s (sdk/src/cli/commands/sidecar.ts): only the runtime
// is linked in here instead of being loaded from the checkout.
import { Command } from 'commander'
import { sidecarCommand } from '../../../sdk/src/cli/commands/sidecar'
import { runProgram } from '../../../sdk/src/cli/exit'
import { runSidecar } from './node'

const io = { err: (text: string) => void process.stderr.write(text), env: process.env }
const program = sidecarCommand(new Command('weft-sidecar'), io, async () => ({ runSidecar }))
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
process.exitCode = await runProgram(program, process.argv, io.err)
// The listeners keep the process alive until a signal drains them; then nothing is left and it exits.
