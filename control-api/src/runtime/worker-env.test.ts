import { describe, expect, it } from 'vitest'
import { ConfigError } from '../config'
import { viaWsProxy } from '../db/connect-neon'
import { workerConfig } from './worker-env'

const DATABASE_URL = 'postgres://weft@db.internal:5432/weft'

function problemsOf(env: Parameters<typeof workerConfig>[0]): string[] {
  try {
    workerConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

describe('WEFT_NEON_WS_PROXY', () => {
  it('is unset by default: the driver then follows the host (Neon for *.neon.tech)', () => {
    expect(workerConfig({ DATABASE_URL }).neonWsProxy).toBeUndefined()
  })

  it('takes a ws: or wss: URL and maps it to the settings Neon documents for a self-run wsproxy', () => {
    expect(viaWsProxy(workerConfig({ DATABASE_URL, WEFT_NEON_WS_PROXY: 'ws://localhost:5433/v1' }).neonWsProxy!)).toEqual({
      wsProxy: 'localhost:5433/v1',
      useSecureWebSocket: false,
      pipelineConnect: false,
      pipelineTLS: false,
    })
    expect(viaWsProxy(workerConfig({ DATABASE_URL, WEFT_NEON_WS_PROXY: 'wss://wsproxy.example.com/v1' }).neonWsProxy!)).toMatchObject({
      wsProxy: 'wsproxy.example.com/v1',
      useSecureWebSocket: true,
    })
  })

  it('refuses what the driver would turn into a wrong URL, naming the variable', () => {
    for (const bad of ['localhost:5433/v1', 'http://localhost:5433/v1', 'ws://localhost:5433/v1?address=x:1', 'ws://user:pw@localhost/v1', 'ws://']) {
      const problems = problemsOf({ DATABASE_URL, WEFT_NEON_WS_PROXY: bad })
      expect(problems, bad).toHaveLength(1)
      expect(problems[0]).toMatch(/^WEFT_NEON_WS_PROXY: must be ws:\/\//)
    }
  })

  it('refuses a proxy together with Hyperdrive, which the Worker reaches over TCP', () => {
    const problems = problemsOf({ HYPERDRIVE: { connectionString: DATABASE_URL }, WEFT_NEON_WS_PROXY: 'ws://localhost:5433/v1' })
    expect(problems).toEqual([expect.stringMatching(/^WEFT_NEON_WS_PROXY: .*HYPERDRIVE/)])
  })
})
