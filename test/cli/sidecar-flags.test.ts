// The sidecar's hardening flags: parsed into the runtime's options (unset ones left to the runtime's defaults),
// bad values reported as usage errors, and a non-loopback admin host refused by the real bin.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { durationOf, sidecarOptions, sizeOf } from '../../sdk/src/cli/commands/sidecar'
import { WEFT_BIN } from './run-cli'

const base = { controlUrl: 'http://127.0.0.1:1', joinToken: 'wfj_x', service: 'orders', appPort: '3000' }

describe('weft sidecar hardening flags', () => {
  it('leaves every limit to the runtime when no flag is given', () => {
    const o = sidecarOptions(base, {})
    expect(o).not.toHaveProperty('limits')
    expect(o).not.toHaveProperty('adminHost')
    expect(o).not.toHaveProperty('allowRemoteAdmin')
    expect(o).not.toHaveProperty('upstreamIdleTimeoutMs')
  })

  it('turns sizes, counts and durations into the runtime limits', () => {
    const o = sidecarOptions(
      {
        ...base,
        maxHeaderBytes: '32KiB',
        maxHeaders: '50',
        maxBodyBytes: '1MiB',
        headersTimeout: '5s',
        requestTimeout: '0',
        idleTimeout: '2m',
        upstreamIdleTimeout: '500ms',
        maxConnections: '200',
        adminHost: '0.0.0.0',
        allowRemoteAdmin: true,
      },
      {},
    )
    expect(o.limits).toEqual({ maxHeaderBytes: 32768, maxHeaders: 50, maxBodyBytes: 1048576, headersTimeoutMs: 5000, requestTimeoutMs: 0, idleTimeoutMs: 120000, maxConnections: 200 })
    expect(o.upstreamIdleTimeoutMs).toBe(500)
    expect(o).toMatchObject({ adminHost: '0.0.0.0', allowRemoteAdmin: true })
  })

  it('reports every bad value at once', () => {
    expect(() => sidecarOptions({ ...base, maxHeaderBytes: '60 potatoes', maxHeaders: '0', headersTimeout: '0', idleTimeout: '10', maxBodyBytes: '-1' }, {})).toThrow(
      /--max-header-bytes must be a size[^\n]*\n\s+--max-headers must be an integer from 1 to 10000[^\n]*\n\s+--max-body-bytes must be a size[^\n]*\n\s+--headers-timeout must be a duration such as 500ms, 10s or 5m \(got "0"\)\n\s+--idle-timeout must be a duration/,
    )
  })

  it('reads sizes in bytes, KiB/MiB/GiB and kB/MB, and durations in ms/s/m/h', () => {
    expect([sizeOf('65536', 'f'), sizeOf('60KiB', 'f'), sizeOf('10mib', 'f'), sizeOf('1GiB', 'f'), sizeOf('2kB', 'f'), sizeOf('3 MB', 'f')]).toEqual([65536, 61440, 10485760, 1073741824, 2000, 3000000])
    expect(() => sizeOf('0', '--x')).toThrow(/--x must be a size/)
    expect(() => sizeOf('1.5MiB', '--x')).toThrow(/--x must be a size/)
    expect([durationOf('250ms', 'f'), durationOf('10s', 'f'), durationOf('5m', 'f'), durationOf('1h', 'f'), durationOf('0', 'f', true)]).toEqual([250, 10000, 300000, 3600000, 0])
    expect(() => durationOf('0', '--x')).toThrow(/--x must be a duration such as 500ms, 10s or 5m \(got "0"\)/)
    expect(() => durationOf('1.5s', '--x', true)).toThrow(/or 0 for none/)
  })
})

describe.skipIf(!existsSync('edge-proxy/src/runtime/node.ts'))('weft sidecar refuses an exposed admin', () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const home = mkdtempSync(join(tmpdir(), 'weft-flags-'))
      const child = spawn(process.execPath, [WEFT_BIN, 'sidecar', ...args], { env: { PATH: process.env.PATH!, HOME: home } })
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      child.stdout.resume()
      child.on('exit', (code) => {
        rmSync(home, { recursive: true, force: true })
        resolve({ code, stderr })
      })
    })
  const flags = ['--control-url', 'http://127.0.0.1:1', '--join-token', 'wfj_x', '--service', 'orders', '--app-port', '3000', '--inbound-port', '41001', '--outbound-port', '41002', '--admin-port', '41003']

  it('exits 2 for a non-loopback --admin-host without --allow-remote-admin, before joining', async () => {
    const r = await run([...flags, '--admin-host', '0.0.0.0'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('weft sidecar: the admin listener would bind to 0.0.0.0, which is not a loopback address')
    expect(r.stderr).toContain('--allow-remote-admin')
  })

  it('exits 2 for limits the runtime cannot honour together', async () => {
    const r = await run([...flags, '--headers-timeout', '20s', '--request-timeout', '10s'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('the headers timeout (20000ms) must not exceed the request timeout (10000ms)')
  })
})
