#!/usr/bin/env bash
# The one-command demo: the emulator seeded with an example organisation, moto with a route,
# resolver-fn under `cargo lambda watch` with the cache-extension attached, and a few invokes.
#   scripts/demo.sh          run the invokes, print the results, stop everything
#   scripts/demo.sh --keep   leave the stack running and print commands to try by hand
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KEEP=0; [ "${1:-}" = "--keep" ] && KEEP=1
VENV=$ROOT/.venv
CL="$VENV/bin/cargo-lambda lambda"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/profile-resolver-demo.XXXXXX")
PIDS=()

stop() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap stop EXIT
trap 'exit 130' INT TERM

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building (first run compiles the AWS SDK; later runs are quick)"
cargo build --workspace --bins --quiet

say "Starting moto (SSM, S3, CloudWatch) with one route for tenant wonka"
MOTO_PORT=$(free_port)
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
PIDS+=($!)
MOTO=http://127.0.0.1:$MOTO_PORT
wait_http "$MOTO/moto-api/" 30
ROUTE_ARN=arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/wonkachatbot
AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo "$VENV/bin/python" - "$MOTO" "$ROUTE_ARN" <<'PY'
import json, sys, boto3
ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=sys.argv[1])
ssm.put_parameter(Name="/profile-resolver/routes/wonka-chatbot", Type="String", Overwrite=True,
                  Value=json.dumps({"tags": {"tenant": "wonka", "app": "chatbot"}, "arn": sys.argv[2]}))
PY
echo "route: /profile-resolver/routes/wonka-chatbot -> $ROUTE_ARN"

say "Starting the AWS emulator with demo/org.json (30 profiles, 2 regions; generated from examples/profiles.yaml)"
target/debug/aws-emulator --listen 127.0.0.1:0 --seed demo/org.json --cloudwatch "$MOTO" \
  > "$WORK/emulator.out" 2> "$WORK/emulator.err" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/emulator.out" ] && break; sleep 0.1; done
EMU=$(sed -n 's/^listening on //p' "$WORK/emulator.out" | head -1)
echo "emulator: $EMU (its Converse publishes AWS/Bedrock metrics to moto's CloudWatch)"

EXT_PORT=$(free_port)
TOKEN=demo-token-$RANDOM$RANDOM
cat > "$WORK/common.env" <<ENV
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=demo
AWS_SECRET_ACCESS_KEY=demo
AWS_EC2_METADATA_DISABLED=true
AWS_ENDPOINT_URL_BEDROCK=$EMU
AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API=$EMU
AWS_ENDPOINT_URL_SSM=$MOTO
PROFILE_RESOLVER_TOKEN=$TOKEN
PROFILE_RESOLVER_REGIONS=us-east-1,eu-west-1
PROFILE_RESOLVER_TTL_SECONDS=30
ENV
cp "$WORK/common.env" "$WORK/function.env"
cat >> "$WORK/function.env" <<ENV
PROFILE_RESOLVER_EXTENSION_URL=http://127.0.0.1:$EXT_PORT
PROFILE_RESOLVER_TENANT_TAG=tenant
PROFILE_RESOLVER_TENANT_CLAIM=custom:tenant
ENV

say "Starting resolver-fn under cargo lambda watch"
LAMBDA_PORT=$(free_port)
$CL watch --ignore-changes --quiet -A 127.0.0.1 -P "$LAMBDA_PORT" --env-file "$WORK/function.env" > "$WORK/watch.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$LAMBDA_PORT/" 60

say "Starting cache-extension on 127.0.0.1:$EXT_PORT, registered with the emulated Extensions API"
env -i PATH="$PATH" $(cat "$WORK/common.env") PROFILE_RESOLVER_PORT="$EXT_PORT" \
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$LAMBDA_PORT/.rt" target/debug/cache-extension > "$WORK/extension.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$EXT_PORT/health" 10
for _ in $(seq 1 50); do
  curl -s "http://127.0.0.1:$EXT_PORT/health" | grep -q '"state":"fresh"' && break; sleep 0.1
done

invoke() { # title, payload file or JSON
  local title=$1 data=$2 out rc
  printf '\n\033[36m-- %s\033[0m\n' "$title"
  if [ -f "$data" ]; then
    echo "\$ cargo lambda invoke resolver-fn --data-file $data"
    set +e; out=$($CL invoke resolver-fn --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file "$data" 2>&1); rc=$?; set -e
  else
    echo "\$ cargo lambda invoke resolver-fn --data-ascii '$data'"
    set +e; out=$($CL invoke resolver-fn --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-ascii "$data" 2>&1); rc=$?; set -e
  fi
  if [ $rc -eq 0 ]; then
    printf '%s\n' "$out" | "$VENV/bin/python" -c 'import json,sys; v=json.load(sys.stdin)
if "statusCode" in v: print("HTTP", v["statusCode"]); v=json.loads(v["body"])
print(json.dumps(v, indent=2)[:1500])'
  else
    printf 'function error:\n%s\n' "$(printf '%s\n' "$out" | grep -v -e 'Was this behavior' -e 'Start a thread' | sed '/^$/d')"
  fi
}

if [ $KEEP -eq 0 ]; then
  invoke "A direct query: one profile" '{"tags": {"dept": "claims", "tenant": "acme", "app": "chatbot", "model": "claude"}}'
  invoke "An ambiguous query: two models serve acme's claims chatbot" '{"tags": {"dept": "claims", "tenant": "acme", "app": "chatbot"}}'
  invoke "match=all lists them" '{"tags": {"dept": "claims", "tenant": "acme", "app": "chatbot"}, "match": "all"}'
  invoke "No match" '{"tags": {"tenant": "wayne"}}'
  invoke "Route fallback from Parameter Store" '{"tags": {"tenant": "wonka", "app": "chatbot"}}'
  invoke "Another region" '{"tags": {"tenant": "globex", "app": "chatbot"}, "region": "eu-west-1"}'
  invoke "API Gateway HTTP API (v2) request, JWT claim custom:tenant=globex" demo/events/apigw-v2-request.json
  invoke "The way back: which model is behind this profile ARN?" '{"profile": "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/cea9494b641a"}'
  say "Extension stats"
  curl -s -H "X-Profile-Resolver-Token: $TOKEN" "http://127.0.0.1:$EXT_PORT/v1/stats" | "$VENV/bin/python" -m json.tool

  say "Fleet mode: snapshot-publisher builds us-east-1 once and publishes it to S3 (moto)"
  FLEET="$VENV/bin/python scripts/demo_fleet.py"
  $FLEET bucket "$MOTO"
  cp "$WORK/common.env" "$WORK/fleet.env"
  cat >> "$WORK/fleet.env" <<ENV
AWS_ENDPOINT_URL_S3=$MOTO
PROFILE_RESOLVER_SNAPSHOT_URL=s3://demo-fleet-snapshots/profiles/
PROFILE_RESOLVER_REGIONS=us-east-1
PROFILE_RESOLVER_TTL_SECONDS=2
PROFILE_RESOLVER_PUBLISH_INTERVAL_SECONDS=300
PROFILE_RESOLVER_ACCOUNT_ID=123456789012
AWS_ENDPOINT_URL_CLOUDWATCH=$MOTO
PROFILE_RESOLVER_DASHBOARD=demo-usage
ENV
  publish() {
    echo "\$ snapshot-publisher --once"
    env -i PATH="$PATH" $(cat "$WORK/fleet.env") AWS_LAMBDA_LOG_LEVEL=warn target/debug/snapshot-publisher --once
  }
  publish
  $FLEET objects "$MOTO"

  READER_PORT=$(free_port)
  READER=http://127.0.0.1:$READER_PORT
  env -i PATH="$PATH" $(cat "$WORK/fleet.env") PROFILE_RESOLVER_PORT="$READER_PORT" target/debug/cache-extension > "$WORK/reader.log" 2>&1 &
  PIDS+=($!)
  wait_http "$READER/health" 10
  printf '\n\033[36m-- A reader (another extension, PROFILE_RESOLVER_SNAPSHOT_URL set) answers from the published snapshot\033[0m\n'
  $FLEET ask "$READER" "$TOKEN"
  printf '\n\033[36m-- Retag: TagResource costcenter=cc-42 on that profile, then the publish its event triggers\033[0m\n'
  $FLEET tag "$EMU" "$($FLEET arn "$READER" "$TOKEN")" costcenter cc-42
  publish
  sleep 2.5
  printf '\n\033[36m-- The running reader picked it up at its next poll (TTL 2 s), having listed nothing itself (GetResources calls: %s)\033[0m\n' \
    "$($FLEET calls "$READER" "$TOKEN")"
  $FLEET ask "$READER" "$TOKEN"

  say "A fleet: 10 sandboxes under the freeze cycle, every model call metered by the emulator's Converse"
  target/debug/fleet-sim --sandboxes 10 --mode s3

  say "Spend per tenant, near real time: the publisher's usage dashboard (demo-usage-us-east-1) read back"
  $FLEET converse "$EMU"
  echo "  each tenant's line sums its profiles' AWS/Bedrock metrics in moto's CloudWatch; beside it, the emulator's meter:"
  "$VENV/bin/python" scripts/usage_readback.py "$MOTO" "$EMU" demo-usage-us-east-1 us-east-1
  say "Done; stopping everything"
else
  say "The stack is running. Try:"
  cat <<TXT
  cargo lambda invoke resolver-fn --invoke-address 127.0.0.1 --invoke-port $LAMBDA_PORT --data-ascii '{"tags": {"tenant": "acme", "app": "chatbot", "dept": "claims", "model": "nova"}}'
  cargo lambda invoke resolver-fn --invoke-address 127.0.0.1 --invoke-port $LAMBDA_PORT --data-file demo/events/apigw-v2-request.json
  curl -s -H 'X-Profile-Resolver-Token: $TOKEN' 'http://127.0.0.1:$EXT_PORT/v1/resolve?tag:tenant=hooli&tag:app=summarizer&match=all'
  curl -s -H 'X-Profile-Resolver-Token: $TOKEN' -d '{"tags": {"tenant": "umbrella", "app": "chatbot", "model": "claude"}}' http://127.0.0.1:$EXT_PORT/v1/resolve
  curl -s -H 'X-Profile-Resolver-Token: $TOKEN' http://127.0.0.1:$EXT_PORT/v1/profiles/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fcea9494b641a
  curl -s http://127.0.0.1:$EXT_PORT/health
  curl -s $EMU/_emulator/calls
  (cargo lambda is $VENV/bin/cargo-lambda; logs are in $WORK)
Press Ctrl-C to stop everything.
TXT
  wait "${PIDS[0]}"
fi
