#!/usr/bin/env bash
# The README's 5-minute walkthrough, runnable: onboard a tenant, register two services, start them behind
# sidecars, push a filter, split traffic 90/10, watch the metrics, roll back. Needs a running control API
# (`npm start`) and its operator key:   WEFT_URL=http://localhost:8787 WEFT_OPERATOR_KEY=wfo_… scripts/walkthrough.sh
# test/walkthrough.test.ts runs it on a fresh embedded database, so this file cannot drift from the product.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${WEFT_URL:?set WEFT_URL}" "${WEFT_OPERATOR_KEY:?set WEFT_OPERATOR_KEY}"
PORT_BASE="${WALKTHROUGH_PORT_BASE:-17000}"
STATE="${WALKTHROUGH_STATE:-$(mktemp -d)}"
mkdir -p "$STATE"
weft() { node sdk/bin/weft.mjs "$@"; }
# http METHOD URL [PROXY]: plain HTTP without needing curl on the machine (the README shows the curl forms).
http() { node --input-type=module -e '
  import { ProxyAgent, fetch } from "undici"
  const [method, url, proxy] = process.argv.slice(1)
  const headers = process.env.WEFT_API_KEY && url.startsWith(process.env.WEFT_URL) ? { authorization: `Bearer ${process.env.WEFT_API_KEY}` } : {}
  const res = await fetch(url, { method, headers, dispatcher: proxy ? new ProxyAgent({ uri: proxy, proxyTunnel: false }) : undefined })
  process.stdout.write(await res.text())' "$@"; }
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(eval("v"+process.argv[1]))})' "$1"; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

echo "== 1. onboard a tenant (operator)"
WEFT_API_KEY=$(weft tenants create acme --json | json .adminKey.secret)
export WEFT_API_KEY

echo "== 2. register two services, and a split of payments between its v1 and v2 endpoints"
npm run -s build >/dev/null                       # compiles the built-in filters into filters/dist
weft filters push filters/dist/add-header.wasm --name add-header --version 1.0.0
weft apply -f examples/mesh.yaml

echo "== 3. start the apps behind sidecars"
start() { # service version app-port port-offset
  node examples/app.mjs "$1-$2" "$3" & pids+=($!)
  local join=$(http POST "$WEFT_URL/v1/services/$1/join-tokens" | json .secret)
  weft sidecar --control-url "$WEFT_URL" --join-token "$join" --service "$1" --app-port "$3" --labels "version=$2" \
    --inbound-port $((PORT_BASE + $4)) --outbound-port $((PORT_BASE + $4 + 1)) --admin-port $((PORT_BASE + $4 + 2)) \
    --state-dir "$STATE/$1-$2" >"$STATE/$1-$2.log" 2>&1 & pids+=($!)
}
start orders v1 $((PORT_BASE + 90)) 0
start payments v1 $((PORT_BASE + 91)) 10
start payments v2 $((PORT_BASE + 92)) 20
ORDERS_OUT=http://127.0.0.1:$((PORT_BASE + 1))
ORDERS_ADMIN=http://127.0.0.1:$((PORT_BASE + 2))
for i in $(seq 150); do
  n=$(http GET "$ORDERS_ADMIN/config_dump" 2>/dev/null | json '.snapshot.outbound.payments.endpoints.length' 2>/dev/null || echo 0)
  [ "$n" = "2" ] && break
  if [ "$i" = 150 ]; then echo "the sidecars did not come up; their logs:" >&2; tail -n 20 "$STATE"/*.log >&2; exit 1; fi
  sleep 0.2
done

echo "== 4. orders calls payments through its sidecar: 90/10 split, identity, filter"
http GET http://payments/charge "$ORDERS_OUT"; echo
v2=$(node --input-type=module -e '
  import { ProxyAgent, fetch } from "undici"
  const dispatcher = new ProxyAgent({ uri: process.argv[1], proxyTunnel: false })
  let v2 = 0
  for (let i = 0; i < 200; i++) if ((await (await fetch(`http://payments/n/${i}`, { dispatcher })).json()).app === "payments-v2") v2++
  console.log(v2)
  await dispatcher.close()' "$ORDERS_OUT")
echo "payments-v2 served $v2 of 200 requests"

echo "== 5. the metrics"
metrics=$(http GET "$ORDERS_ADMIN/metrics"); grep '^weft_requests_total' <<<"$metrics" | head -5 || true
http GET "$WEFT_URL/v1/proxies"; echo

echo "== 6. shift everything to v2, wait until every proxy has it, then roll back"
weft apply -f examples/payments-all-v2.yaml --wait-converged
http GET http://payments/after-shift "$ORDERS_OUT"; echo
weft simulate --from orders --to payments --path /charge
weft policies history payments-split
weft policies rollback payments-split --version 1
echo "walkthrough done"
