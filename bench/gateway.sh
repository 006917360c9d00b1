#!/usr/bin/env bash
# Benchmark the gateway (one uvicorn worker, uvloop + httptools, ledger on) with ../shared/bench.
#
#   bench/gateway.sh [sqlite|postgres] [LABEL]
#
# Starts the fake upstream (nginx) if needed, prepares a fresh database (migrate, catalogue synced from
# the fake upstream's /models, one key), starts the gateway on 127.0.0.1:18900, runs
# ../shared/bench/run.sh (DURATION=6, CONNS="1 32" unless set), then checks the ledger: a burst of
# requests through the gateway, a graceful stop (which flushes the writer), and the ledger's new rows
# must equal the requests the upstream counted. Results: bench/results/<stamp>-<label>/.
#
# Knobs: DURATION, CONNS, MODES (passed to run.sh), PG_URL (default
# postgres://postgres@127.0.0.1:5432/tokenledger_gateway_bench), BENCH_BUDGET=1 (the key gets a budget
# and rpm/tpm limits, so the limits path is measured too), REDIS_URL (limits in Redis).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
DB="${1:-sqlite}"
LABEL="${2:-gateway-$DB}"
PORT="${GATEWAY_PORT:-18900}"
PY="$ROOT/.venv/bin/python"
UPSTREAM=http://127.0.0.1:18080
DATA="$(mktemp -d /tmp/gateway-bench-XXXXXX)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUTDIR="$ROOT/bench/results/$STAMP-$LABEL"
mkdir -p "$OUTDIR"

export TOKENLEDGER_DATA_DIR="$DATA"
export OPENROUTER_BASE_URL="$UPSTREAM/api/v1"
export OPENROUTER_API_KEY=sk-or-v1-bench-dummy-upstream-key
export DJANGO_SETTINGS_MODULE=dashboard.settings
export GATEWAY_KEY_CACHE_SECONDS=5
unset CELERY_BROKER_URL || true
case "$DB" in
    sqlite) export DATABASE_URL="sqlite:///$DATA/db.sqlite3" ;;
    postgres)
        PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/tokenledger_gateway_bench}"
        psql "${PG_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS ${PG_URL##*/}" >/dev/null
        psql "${PG_URL%/*}/postgres" -qc "CREATE DATABASE ${PG_URL##*/}" >/dev/null
        export DATABASE_URL="$PG_URL" ;;
    *) echo "usage: bench/gateway.sh [sqlite|postgres] [LABEL]" >&2; exit 2 ;;
esac

GW_PID=""
STARTED_UPSTREAM=0
cleanup() {
    if [[ -n "$GW_PID" ]] && kill -0 "$GW_PID" 2>/dev/null; then kill "$GW_PID"; wait "$GW_PID" || true; fi
    if [[ "$STARTED_UPSTREAM" == 1 ]]; then "$SHARED/upstream.sh" stop || true; fi
    rm -rf "$DATA"
}
trap cleanup EXIT

if ! curl -fsS -m 2 -o /dev/null "$UPSTREAM/api/v1/models" 2>/dev/null; then
    "$SHARED/upstream.sh" start
    STARTED_UPSTREAM=1
fi

cd "$ROOT"
"$PY" manage.py migrate -v0
"$PY" manage.py sync_catalog --url "$UPSTREAM/api/v1/models" >/dev/null
LIMITS=()
if [[ "${BENCH_BUDGET:-0}" == 1 ]]; then LIMITS=(--budget 1000000 --rpm 1000000 --tpm 1000000000); fi
KEY="$("$PY" manage.py create_api_key --name bench "${LIMITS[@]}" | tail -1)"

start_gateway() {
    "$ROOT/.venv/bin/uvicorn" dashboard.asgi:application --host 127.0.0.1 --port "$PORT" --workers 1 \
        --loop uvloop --http httptools --no-access-log --log-level warning &
    GW_PID=$!
    for _ in $(seq 100); do
        curl -sS -m 1 -o /dev/null "http://127.0.0.1:$PORT/api/v1/key" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "the gateway did not start" >&2
    exit 1
}
stop_gateway() {
    kill -TERM "$GW_PID"
    wait "$GW_PID" || true
    GW_PID=""
}

ledger_rows() {
    "$PY" -c "import django; django.setup(); from usage.models import LedgerEntry; print(LedgerEntry.objects.count())"
}

start_gateway
NOTE="gateway one worker, $DB, ledger on${BENCH_BUDGET:+, budget+rpm+tpm}" OUTDIR="$OUTDIR" \
    DURATION="${DURATION:-6}" CONNS="${CONNS:-1 32}" PROXY_PIDS="$GW_PID" \
    "$SHARED/run.sh" "http://127.0.0.1:$PORT/api/v1/chat/completions" "$KEY" "$LABEL" | tee "$OUTDIR/run.txt"
stop_gateway

# ---- ledger check: rows written == requests the upstream counted -------------------
start_gateway
rows0="$(ledger_rows)"
hits0="$(python3 "$SHARED/report.py" stats "$UPSTREAM")"
for stream in 0 1; do
    BENCH_KEY="$KEY" BENCH_MODEL=openai/gpt-4o-mini BENCH_STREAM=$stream BENCH_TAG=ledger-check \
        wrk -t1 -c32 -d3s --timeout 10s -s "$SHARED/wrk/chat.lua" \
        "http://127.0.0.1:$PORT/api/v1/chat/completions" >"$OUTDIR/ledger-check-$stream.txt" 2>&1
done
# Stop first (graceful: requests in flight finish, the writer flushes), then count: a request wrk sent just
# before it ended may reach the upstream only after wrk exits, and it has a ledger row.
stop_gateway
hits1="$(python3 "$SHARED/report.py" stats "$UPSTREAM")"
rows1="$(ledger_rows)"
upstream=$((hits1 - hits0))
written=$((rows1 - rows0))
verdict=OK
[[ "$upstream" == "$written" ]] || verdict=MISMATCH
echo "ledger check: upstream counted $upstream requests, ledger has $written new rows: $verdict" \
    | tee "$OUTDIR/ledger-check.txt"
if [[ "$verdict" != OK ]]; then  # what the rows of the check were, to tell a lost row from an extra one
    "$PY" -c "import django; django.setup()
from django.db.models import Count
from usage.models import LedgerEntry
rows = LedgerEntry.objects.order_by('id')[$rows0:].values_list('id', flat=True)
kinds = LedgerEntry.objects.filter(id__in=list(rows)).values('status', 'http_status', 'error_code')
for kind in kinds.annotate(n=Count('id')).order_by('-n'):
    print('  ', kind)" | tee -a "$OUTDIR/ledger-check.txt"
fi
echo "results: $OUTDIR"
[[ "$verdict" == OK ]]
