/**
 * The reference proxies and the load generator from Debian: wrk, nginx (nginx-light) and HAProxy. Missing
 * binaries are installed with apt-get (the benchmark says so); a package that cannot be installed leaves its
 * row out with the reason, never silently. nginx and HAProxy run as plain reverse proxies with one worker /
 * one thread each, the same single core a Node sidecar's event loop gets, with keep-alive to the app.
 */
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startChild, type Child } from './processes'

const PACKAGES: Record<string, string> = { wrk: 'wrk', nginx: 'nginx-light', haproxy: 'haproxy' }
/** Debian puts nginx and haproxy in /usr/sbin, which a non-login PATH may lack. */
const SEARCH = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']

function locate(binary: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SEARCH]) {
    if (dir && spawnSync('test', ['-x', join(dir, binary)]).status === 0) return join(dir, binary)
  }
  return null
}

/** Finds each binary, installing the missing ones in one apt-get call; returns path or the reason it is missing. */
export function ensureTools(log: (line: string) => void): Record<string, { path: string } | { missing: string }> {
  const missing = Object.keys(PACKAGES).filter((b) => !locate(b))
  if (missing.length > 0) {
    const pkgs = missing.map((b) => PACKAGES[b]!)
    log(`installing ${pkgs.join(', ')} with apt-get (not found on this machine)…`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const update = spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', env })
    const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { encoding: 'utf8', env }) : update
    if (install.status !== 0) log(`apt-get failed (${install.error?.message ?? `exit ${install.status}`}): ${(install.stderr ?? '').trim().slice(-500)}`)
  }
  return Object.fromEntries(
    Object.keys(PACKAGES).map((b) => {
      const path = locate(b)
      return [b, path ? { path } : { missing: `${b} is not installed and apt-get could not install ${PACKAGES[b]}` }]
    }),
  )
}

export async function startNginx(binary: string, dir: string, listenPort: number, appPort: number): Promise<Child> {
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream app { server 127.0.0.1:${appPort}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  )
  return startChild('nginx', binary, ['-c', conf, '-p', dir], [listenPort])
}

export async function startHaproxy(binary: string, dir: string, listenPort: number, appPort: number): Promise<Child> {
  const conf = join(dir, 'haproxy.cfg')
  writeFileSync(
    conf,
    `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  option http-keep-alive
  http-reuse always
frontend bench
  bind 127.0.0.1:${listenPort}
  default_backend app
backend app
  server app 127.0.0.1:${appPort}
`,
  )
  // -db: foreground, no daemon.
  return startChild('haproxy', binary, ['-db', '-f', conf], [listenPort])
}
