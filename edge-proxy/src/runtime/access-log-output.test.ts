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
  const collect = () => {
    const writes: string[] = []
    const sink = { write: (chunk: Uint8Array, cb?: (err?: Error | null) => void) => (writes.push(Buffer.from(chunk).toString()), setImmediate(() => cb?.()), true) }
    return { writes, sink }
  }

  it('writes one batch once the next line might not fit, and the rest at close', async () => {
    const { writes, sink } = collect()
    const out = bufferedAccessLogOutput(sink, 60_000, 400)
    const line = `${'x'.repeat(39)}\n` // 40 bytes; room is checked for 3 bytes per character
    for (let i = 0; i < 8; i++) out.stream.write(line) // the 8th: 280 + 3 × 40 ≤ 400 still fits
    expect(writes).toEqual([])
    out.stream.write(line) // 320 + 120 > 400: the eight go out first
    expect(writes).toEqual([line.repeat(8)])
    out.stream.write('é\n')
    await out.close()
    expect(writes).toEqual([line.repeat(8), `${line}é\n`])
    await out.close()
    expect(writes).toHaveLength(2)
  })

  it('passes a line larger than the buffer on by itself, after what was buffered', () => {
    const { writes, sink } = collect()
    const out = bufferedAccessLogOutput(sink, 60_000, 64)
    out.stream.write('a\n')
    const big = `${'b'.repeat(100)}\n`
    out.stream.write(big)
    expect(writes).toEqual(['a\n', big])
  })
})
