import { Command } from 'commander'
import { createContext } from './context.js'
import { runProgram } from './exit.js'
import type { Io } from './output.js'
import { registerApply } from './commands/apply.js'
import { registerConvergence } from './commands/convergence.js'
import { registerEdge } from './commands/edge.js'
import { registerGet } from './commands/get.js'
import { registerLogin } from './commands/login.js'
import { registerResources } from './commands/resources.js'
import { registerSidecar } from './commands/sidecar.js'
import { registerSimulate } from './commands/simulate.js'
import { registerTop } from './commands/top.js'

export function buildProgram(io: Io): Command {
  const ctx = createContext(io)
  const program = new Command('weft')
    .description('Command line for the Weft service mesh control API.')
    .option('--url <url>', 'control API URL (else the stored login, else WEFT_URL)')
    .option('--api-key <key>', 'API key (else the stored login, else WEFT_API_KEY or WEFT_OPERATOR_KEY)')
    .option('--json', 'print JSON, for scripts')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
  registerLogin(program, ctx)
  registerResources(program, ctx)
  registerGet(program, ctx)
  registerApply(program, ctx)
  registerSimulate(program, ctx)
  registerConvergence(program, ctx)
  registerSidecar(program, ctx)
  registerEdge(program, ctx)
  registerTop(program, ctx)
  // Every subcommand reports usage errors through the same override, so `main` can map them to exit 2.
  const override = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err })
    cmd.commands.forEach(override)
  }
  program.commands.forEach(override)
  return program
}

/** Runs the CLI; resolves to the exit code instead of exiting, so tests and the bin share it. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  return runProgram(buildProgram(io), argv, io.err)
}

function processIo(): Io {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    isTTY: Boolean(process.stderr.isTTY),
    env: process.env,
    status: (t) => void process.stderr.write(`\r\x1b[2K${t}`),
  }
}
