/**
 * Child processes of the benchmark (the app, the proxies, the load generators) and what Linux says about
 * them: CPU time from /proc/<pid>/stat, resident memory from /proc/<pid>/status, for a whole process tree
 * (nginx's master and worker count together).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import type { Readable } from 'node:stream'

/** USER_HZ: /proc reports CPU time in these ticks; fixed at 100 by the kernel ABI on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100
const READY_TIMEOUT_MS = 60_000

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = createConnection({ port, host: '127.0.0.1' })
    c.once('connect', () => (c.destroy(), resolve(true)))
    c.once('error', () => resolve(false))
  })

export type Child = {
  name: string
  pid: number
  process: ChildProcess
  /** What the process writes to stdout, after `stdoutFilter` when there is one. */
  stdout: Readable
  output(): string
  stop(): Promise<void>
}

/** A `grep` the child's stdout goes through: `grep --line-buffered -v -F <dropLinesWith>`. */
export type StdoutFilter = { dropLinesWith: string }

/**
 * Starts a process and resolves once every port in `readyPorts` accepts connections (or it dies: then throws with its output).
 * With `stdoutFilter`, its stdout is a pipe to a `grep` that drops the lines holding a string, and this process
 * reads what is left: a sidecar writes its access log to stdout (megabytes a second under load) as it would to a
 * container runtime's pipe, and reading all of that here, in Node, cost ≈ 2.7 µs of this process's CPU per
 * request (bench/proxy/mesh-up.ts, wrk through the outbound hop), on the cores the measured processes run on;
 * grep drops it for ≈ 0.2 µs.
 */
export async function startChild(name: string, command: string, args: string[], readyPorts: number[], env: NodeJS.ProcessEnv = process.env, stdoutFilter?: StdoutFilter): Promise<Child> {
  const filter = stdoutFilter ? spawn('grep', ['--line-buffered', '-v', '-F', stdoutFilter.dropLinesWith], { stdio: ['pipe', 'pipe', 'inherit'] }) : null
  const child = spawn(command, args, { stdio: ['ignore', filter?.stdin ?? 'pipe', 'pipe'], env })
  // The child holds the pipe's write end now; grep sees its end when the child exits.
  filter?.stdin!.destroy()
  const stdout = filter?.stdout ?? child.stdout!
  let out = ''
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-8_000))
  stdout.on('data', keep)
  child.stderr!.on('data', keep)
  let exited: string | null = null
  const exit = new Promise<void>((resolve) => child.once('exit', (code, signal) => ((exited = `exited with ${code ?? signal}`), resolve())))
  child.once('error', (err) => (exited = `could not start: ${err.message}`))
  const until = Date.now() + READY_TIMEOUT_MS
  for (const port of readyPorts) {
    while (!(await canConnect(port))) {
      if (exited || Date.now() > until) {
        child.kill('SIGKILL')
        throw new Error(`${name} ${exited ?? 'did not listen in time'} (port ${port}); its output:\n${out}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return {
    name,
    pid: child.pid!,
    process: child,
    stdout,
    output: () => out,
    async stop() {
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exit
      clearTimeout(timer)
    },
  }
}

/** Runs a process to completion and returns its stdout (throws with stderr on a non-zero exit). */
export function runToEnd(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}: ${err.slice(-2000)}`))))
  })
}

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: split after its closing one.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** The pid and all its descendants, read from /proc (nginx forks its worker; tsx may start helpers). */
export function processTree(root: number): number[] {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    const f = statFields(pid)
    if (f) parentOf.set(pid, Number(f[1]))
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) for (const [pid, parent] of parentOf) if (parent === tree[i]) tree.push(pid)
  return tree
}

/** User + system CPU seconds used so far by these processes. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const f = statFields(pid)
    // After the name: state is [0], utime is [11], stime is [12] (fields 14 and 15 of proc(5)).
    if (f) ticks += Number(f[11]) + Number(f[12])
  }
  return ticks / CLOCK_TICKS_PER_SECOND
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

export const rssBytes = (pids: number[]) => pids.reduce((sum, pid) => sum + statusKb(pid, 'VmRSS') * 1024, 0)
/** The kernel's high-water mark per process, summed: an upper bound for the tree's peak. */
export const peakRssBytes = (pids: number[]) => pids.reduce((sum, pid) => sum + statusKb(pid, 'VmHWM') * 1024, 0)
/** The resident set split: anonymous pages (heap, stacks, malloc) and file pages (mostly the node binary's). */
export const rssSplitBytes = (pid: number) => ({ anon: statusKb(pid, 'RssAnon') * 1024, file: statusKb(pid, 'RssFile') * 1024 })

/**
 * Watches a set of processes while a load runs: CPU seconds used between start() and stop(), and the
 * highest resident set seen (sampled every 50 ms, summed over the processes at each sample).
 */
export function resourceWatch(pids: number[]) {
  const cpu0 = cpuSeconds(pids)
  const t0 = performance.now()
  let peak = rssBytes(pids)
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pids))), 50)
  return {
    stop() {
      clearInterval(timer)
      peak = Math.max(peak, rssBytes(pids))
      return { cpuSeconds: cpuSeconds(pids) - cpu0, wallSeconds: (performance.now() - t0) / 1000, peakRssBytes: peak }
    },
  }
}

/** `node --import tsx file.ts …`: how the benchmark's own TypeScript helpers run as processes. */
export const tsNode = (file: URL, args: string[]) => ({ command: process.execPath, args: ['--import', 'tsx', file.pathname, ...args] })
