// Serves the web console: one HTML page and its script and stylesheet, all from memory (assets.generated.ts),
// so the same code serves it on Node and in the Worker. Public like /docs: the page holds no data; everything
// it shows comes from the REST API with the user's API key.
import { Hono } from 'hono'
import type { AppEnv } from '../context'
import { CONSOLE_CSS, CONSOLE_JS, CONSOLE_VERSION } from './assets.generated'

/** Same-origin script, style and fetch only; no inline code, no framing. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weft console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/app.css?v=${CONSOLE_VERSION}">
<script defer src="/console/app.js?v=${CONSOLE_VERSION}"></script>
</head>
<body>
<div id="app"><noscript>The Weft console needs JavaScript. The same data is in the REST API: see /docs.</noscript></div>
</body>
</html>
`

const ETAG = `"console-${CONSOLE_VERSION}"`

function asset(body: string, type: string) {
  return (c: { req: { header: (n: string) => string | undefined }; body: (b: string | null, s: 200 | 304, h: Record<string, string>) => Response }) => {
    const headers = {
      'Content-Type': type,
      'Content-Security-Policy': CONSOLE_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      // Revalidated every load: a deploy shows up at once, an unchanged console costs a 304.
      'Cache-Control': 'no-cache',
      ETag: ETAG,
    }
    if (c.req.header('if-none-match') === ETAG) return c.body(null, 304, headers)
    return c.body(body, 200, headers)
  }
}

export const consoleRoutes = new Hono<AppEnv>()
  .get('/console', asset(PAGE, 'text/html; charset=utf-8'))
  .get('/console/', (c) => c.redirect('/console', 301))
  .get('/console/app.js', asset(CONSOLE_JS, 'text/javascript; charset=utf-8'))
  .get('/console/app.css', asset(CONSOLE_CSS, 'text/css; charset=utf-8'))
