// The event-loop delay gauges: about zero while the loop is idle, and a blocked loop shows as its stall.
import { describe, expect, it } from 'vitest'
import { eventLoopDelayMetrics } from './event-loop-delay'

const read = (text: string) => Object.fromEntries([...text.matchAll(/^weft_event_loop_delay_(p50|p99|max)_seconds (\S+)$/gm)].map((m) => [m[1], Number(m[2])]))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('eventLoopDelayMetrics', () => {
  it('reads about zero when idle, the stall when the loop was blocked, and starts over after each scrape', async () => {
    const m = eventLoopDelayMetrics(10)
    try {
      await sleep(300)
      const idle = read(m.render())
      expect(idle.p50).toBeLessThan(0.005)
      await sleep(50)
      const until = Date.now() + 80
      while (Date.now() < until) {
        // a stall of 80 ms on the one thread
      }
      await sleep(50)
      const blocked = read(m.render())
      expect(blocked.max).toBeGreaterThan(0.06)
      expect(blocked.max).toBeLessThan(1)
      await sleep(200)
      expect(read(m.render()).max).toBeLessThan(0.06)
    } finally {
      m.stop()
    }
  })
})
