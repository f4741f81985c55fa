import type { Command } from 'commander'
import { Weft, WeftApiError } from '../../index.js'
import { writeStoredConfig } from '../config.js'
import type { Context } from '../context.js'
import { UsageError } from '../exit.js'

/** `weft login`: checks the URL and key against the API, then stores them (0600). */
export function registerLogin(program: Command, ctx: Context): void {
  program
    .command('login')
    .description('store the control API URL and an API key for later commands')
    // --url and --api-key are the program's own options, which commander reads wherever they appear.
    .usage('--url URL --api-key KEY [--no-verify]')
    .option('--no-verify', 'store without checking the key against the API')
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ url?: string; apiKey?: string; verify: boolean }>()
      if (!o.url || !o.apiKey) throw new UsageError('weft login needs --url URL and --api-key KEY')
      let weft: Weft
      try {
        weft = new Weft({ baseUrl: o.url!, apiKey: o.apiKey, retry: { maxRetries: 1 } })
      } catch (err) {
        throw new UsageError((err as Error).message)
      }
      let who = 'not verified'
      if (o.verify) {
        if (o.apiKey.startsWith('wfo_')) {
          await weft.tenants.list({ limit: 1 })
          who = 'operator'
        } else {
          try {
            const t = await weft.tenant.get()
            who = `tenant ${t.slug}`
          } catch (err) {
            // A join token or workload JWT cannot read the tenant; anything but a 401 means the key is real.
            if (!(err instanceof WeftApiError) || err.status === 401) throw err
            who = 'key accepted'
          }
        }
      }
      const file = await writeStoredConfig(ctx.io.env, { url: o.url, apiKey: o.apiKey! })
      if (ctx.format(cmd) === 'json') ctx.io.out(JSON.stringify({ url: o.url, config: file, identity: who }, null, 2) + '\n')
      else ctx.io.out(`logged in to ${o.url} (${who}); saved to ${file}\n`)
    })
}
