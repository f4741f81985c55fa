// The buffered stdout access log, in a real child process writing to a real pipe: lines are held while the
// buffer is small, written within the flush interval, and all written at close.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { bufferedAccessLogOutput } from './access-log-output'

const MODULE = fileURLToPath(new URL('./access-log-output.ts', import.meta.url))

describe('bufferedAccessLogOutput', () => {
  it('holds small writes, flushes them within the interval, and writes everything at close', async () => {
    const script = `
      const { bufferedAccessLogOutput } = await import(${JSON.stringify(MODULE)})
      const out = bufferedAccessLogOutput(process.stdout, 300)
      out.stream.write('{"n":1}\\n')
      out.stream.write('{"n":2}\\n')
      process.stderr.write('written\\n')
      await new Promise((r) => setTimeout(r, 700))
      process.stderr.write('waited\\n')
      out.stream.write('{"n":3}\\n')
      await out.close()
      process.stderr.write('closed\\n')
    `
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    // Each stdout chunk, tagged with the stderr markers seen before it arrived.
    const events: string[] = []
    child.stdout.on('data', (d: Buffer) => events.push(`out:${d.toString().trim().split('\n').join('|')}`))
    child.stderr.on('data', (d: Buffer) => {
      for (const line of d.toString().trim().split('\n')) if (['written', 'waited', 'closed'].includes(line)) events.push(line)
    })
    const code = await new Promise<number | null>((r) => child.on('close', r))
    expect(code).toBe(0)
    // Nothing before the flush interval; the two lines in one write after it; the third at close (stdout and
    // stderr are two pipes: the last two may arrive in either order).
    expect(events.slice(0, 3)).toEqual(['written', 'out:{"n":1}|{"n":2}', 'waited'])
    expect(events.slice(3).sort()).toEqual(['closed', 'out:{"n":3}'])
  })
})

describe('bufferedAccessLogOutput batches', () => {
  it('writes one joined batch once the buffer fills, and the rest at close', async () => {
    const writes: string[] = []
    const sink = { write: (text: string, cb?: (err?: Error | null) => void) => (writes.push(text), setImmediate(() => cb?.()), true) }
    const out = bufferedAccessLogOutput(sink, 60_000, 100)
    const line = `${'x'.repeat(39)}\n`
    out.stream.write(line)
    out.stream.write(line)
    expect(writes).toEqual([])
    out.stream.write(line)
    expect(writes).toEqual([line.repeat(3)])
    out.stream.write('last\n')
    await out.close()
    expect(writes).toEqual([line.repeat(3), 'last\n'])
    await out.close()
    expect(writes).toHaveLength(2)
  })
})
