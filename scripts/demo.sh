#!/usr/bin/env bash
# The README's walk-through of the use case (Appendix B), as one script: npm run demo -- http://127.0.0.1:8787
# Idempotent: it removes what an earlier run left, so it can be run again and again.
# The blocks below are README.md's, verbatim (test/e2e/readme.test.ts checks that they stay so).
set -euo pipefail
cd "$(dirname "$0")/.."
G=${1:-${G:-http://127.0.0.1:8787}}
G=${G%/}

G=${G:-http://127.0.0.1:8787}; A='Authorization: Bearer dev-admin-token'; J='Content-Type: application/json'
PHONE=tel:+15551230001; WATCH=tel:+15551230002
# json PATH: one field of the JSON on stdin (node only, no jq needed); key: a fresh 32-byte device key
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=process.argv[1].split(".").reduce((o,k)=>o?.[k],JSON.parse(s));if(v===undefined){console.error(`no ${process.argv[1]} in ${s}`);process.exit(1)}console.log(v)})' "$1"; }
key() { node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))'; }
enc() { node -p 'encodeURIComponent(process.argv[1])' "$1"; }
# 0. start clean: removing a subscriber ends its twins on both sides (404 on the first run)
for S in $PHONE $WATCH; do curl -s -o /dev/null -w "DELETE $S: %{http_code}\n" -X DELETE "$G/admin/v1/subscribers/$(enc $S)" -H "$A"; done
# 1. the operator provisions the phone and the watch, each with the key its network authenticates it by ...
PHONE_KEY=$(key); WATCH_KEY=$(key)
curl -s --fail-with-body -X PUT "$G/admin/v1/subscribers/$(enc $PHONE)" -H "$A" -H "$J" -d '{"mno":{"mcc":"001","mnc":"01"},"deviceKey":"'$PHONE_KEY'"}'; echo
curl -s --fail-with-body -X PUT "$G/admin/v1/subscribers/$(enc $WATCH)" -H "$A" -H "$J" -d '{"mno":{"mcc":"001","mnc":"01"},"deviceKey":"'$WATCH_KEY'"}'; echo
# 2. ... and registers the twinning application (the secret is shown once)
APP=$(curl -s --fail-with-body -X POST "$G/admin/v1/clients" -H "$A" -H "$J" -d '{"name":"Twinning app","scopes":["twinning:primary","twinning:secondary"]}')
CID=$(echo "$APP" | json client_id); SECRET=$(echo "$APP" | json client_secret); echo "client_id $CID"

# token SUBSCRIBER KEY SCOPE: an RFC 9068 access token for that device
token() { curl -s --fail-with-body -u "$CID:$SECRET" "$G/oauth/token" -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer -d scope=$3 \
  --data-urlencode assertion=$(node scripts/device-assertion.mjs "$2" "$1" "$CID" "$G/oauth/token") | json access_token; }
P=$(token $PHONE $PHONE_KEY twinning:primary); T=$(token $WATCH $WATCH_KEY twinning:secondary)
echo "P=${P:0:24}…  T=${T:0:24}…"
# 3. the watch asks for an activation code and shows it to the user
CODE=$(curl -s --fail-with-body -X POST "$G/twinning/v1/acr:Authorization/activationCodes" -H "Authorization: Bearer $T" -H "$J" -d '{}' | json activationCode.code)
echo "the watch shows: $CODE"
# 4. the user types the code into the phone, which activates the twin
curl -s --fail-with-body -X POST "$G/twinning/v1/acr:Authorization/twins" -H "Authorization: Bearer $P" -H "$J" -d '{"activationCode":"'$CODE'","name":"my-watch"}'; echo
# 5. both sides see it: the phone lists its twins, the watch reads its relationship
curl -s --fail-with-body "$G/twinning/v1/acr:Authorization/twins" -H "Authorization: Bearer $P"; echo
curl -s --fail-with-body "$G/twinning/v1/acr:Authorization/relationship" -H "Authorization: Bearer $T"; echo
# 6. the phone turns twinning off for the watch, and on again
curl -s --fail-with-body -X PUT "$G/twinning/v1/acr:Authorization/twins/my-watch/status" -H "Authorization: Bearer $P" -H "$J" -d '{"status":"Off"}'; echo
curl -s --fail-with-body -X PUT "$G/twinning/v1/acr:Authorization/twins/my-watch/status" -H "Authorization: Bearer $P" -H "$J" -d '{"status":"On"}'; echo

# a. the phone's app subscribes a receiver on loopback (.dev.vars allows http on loopback in development)
PORT=$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
SUB=$(curl -s --fail-with-body -X POST "$G/twinning/v1/acr:Authorization/subscriptions" -H "Authorization: Bearer $P" -H "$J" \
  -d '{"subscription":{"callbackReference":{"notifyURL":"http://127.0.0.1:'$PORT'/hook","callbackData":"walk-through"}}}')
node scripts/webhook-receiver.mjs $PORT "$(echo "$SUB" | json subscription.signingSecret)" 1 20 & RECEIVER=$!
# b. the watch opens a long-polling channel and subscribes it (its callbackURL is the notifyURL)
CH=$(curl -s --fail-with-body -X POST "$G/notificationchannel/v1/acr:Authorization/channels" -H "Authorization: Bearer $T" -H "$J" \
  -d '{"notificationChannel":{"channelType":"LongPolling","channelLifetime":600}}')
curl -s --fail-with-body -o /dev/null -X POST "$G/twinning/v1/acr:Authorization/subscriptions" -H "Authorization: Bearer $T" -H "$J" \
  -d '{"subscription":{"callbackReference":{"notifyURL":"'$(echo "$CH" | json notificationChannel.callbackURL)'"}}}'
# c. the phone turns the watch off: the receiver prints "verified …", the long poll returns the notification
sleep 1; curl -s --fail-with-body -o /dev/null -X PUT "$G/twinning/v1/acr:Authorization/twins/my-watch/status" -H "Authorization: Bearer $P" -H "$J" -d '{"status":"Off"}'
curl -s --fail-with-body "$(echo "$CH" | json notificationChannel.channelData.channelURL)?timeout=10"; echo
wait $RECEIVER
# d. a WebSocket channel: connect to its channelURL; "ping" is answered "pong" without waking the channel object
WS=$(curl -s --fail-with-body -X POST "$G/notificationchannel/v1/acr:Authorization/channels" -H "Authorization: Bearer $T" -H "$J" \
  -d '{"notificationChannel":{"channelType":"WebSockets","channelLifetime":600}}' | json notificationChannel.channelData.channelURL)
node --experimental-websocket --no-warnings -e 'const ws=new WebSocket(process.argv[1]);ws.onopen=()=>ws.send("ping");ws.onmessage=(e)=>{console.log("websocket:",e.data);ws.close()}' "$WS"
