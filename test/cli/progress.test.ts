// The upload progress of `weft filters push`: a bar that reaches 100% on a terminal, two plain lines otherwise.
import { describe, expect, it } from 'vitest'
import type { Io } from '../../sdk/src/cli/output'
import { uploadProgress } from '../../sdk/src/cli/progress'

function io(isTTY: boolean) {
  const err: string[] = []
  const status: string[] = []
  const value: Io = { out: () => {}, err: (t) => void err.push(t), isTTY, env: {}, status: (t) => void status.push(t) }
  return { io: value, err, status }
}

// A fetch that reads the streamed body as a server would, and echoes its size.
const echo = async (req: Request) => new Response(String((await req.arrayBuffer()).byteLength), { status: 201 })

describe('uploadProgress', () => {
  const body = new Uint8Array(200 * 1024).fill(7)

  it('draws a bar on a terminal, chunk by chunk, to 100%', async () => {
    const t = io(true)
    const res = await uploadProgress(t.io, 'f@1', true, echo)(new Request('http://x/v1/filters', { method: 'POST', body }))
    expect(await res.text()).toBe(String(body.length))
    expect(t.status.length).toBe(4)
    expect(t.status.at(-1)).toBe(`uploading f@1 [${'#'.repeat(30)}] 100% 200.0 KiB/200.0 KiB`)
    expect(t.err).toEqual(['\n'])
  })

  it('writes plain lines elsewhere, and passes bodiless requests through', async () => {
    const t = io(false)
    await uploadProgress(t.io, 'f@1', true, echo)(new Request('http://x/v1/filters', { method: 'POST', body }))
    expect(t.err).toEqual(['uploading f@1 (200.0 KiB)\n', 'uploaded f@1: 200.0 KiB sent, answer 201\n'])
    const quiet = io(false)
    await uploadProgress(quiet.io, 'f@1', true, echo)(new Request('http://x/v1/filters'))
    expect(quiet.err).toEqual([])
  })
})
