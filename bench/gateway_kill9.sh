#!/usr/bin/env bash
# kill -9 the gateway during a burst and count the answered requests that have no ledger row.
#
#   bench/gateway_kill9.sh [ROUNDS]
#
# One uvicorn worker on a fresh SQLite database (as bench/gateway_targets.py starts it), wrk at 32
# connections against the shared fake upstream (../shared/bench, started if needed); after 2 s the worker
# is killed with SIGKILL. Once the ledger writer's process has written what it had read, the new ledger
# rows are compared with the requests the upstream answered; then the gateway is started again (it replays
# the dead process's journal) and stopped, and the rows are counted again. Prints one line per round.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
PY="$ROOT/.venv/bin/python"
UPSTREAM=http://127.0.0.1:18080
PORT="${GATEWAY_PORT:-18930}"
ROUNDS="${1:-3}"

started_upstream=0
if ! curl -fsS -m 2 -o /dev/null "$UPSTREAM/api/v1/models" 2>/dev/null; then
    "$SHARED/upstream.sh" start >/dev/null
    started_upstream=1
fi
trap '[[ $started_upstream == 1 ]] && "$SHARED/upstream.sh" stop >/dev/null || true' EXIT
count() { curl -fsS "$UPSTREAM/_bench/stats" | python3 -c "import sys, json; print(json.load(sys.stdin)['total'])"; }

cd "$ROOT"
for round in $(seq "$ROUNDS"); do
    DATA="$(mktemp -d /tmp/gateway-kill9-XXXXXX)"
    export TOKENLEDGER_DATA_DIR="$DATA" DATABASE_URL="sqlite:///$DATA/db.sqlite3" \
        OPENROUTER_BASE_URL="$UPSTREAM/api/v1" OPENROUTER_API_KEY=sk-or-v1-bench DJANGO_SETTINGS_MODULE=dashboard.settings
    unset CELERY_BROKER_URL REDIS_URL || true
    "$PY" manage.py migrate -v0 2>/dev/null
    "$PY" manage.py sync_catalog --url "$UPSTREAM/api/v1/models" >/dev/null 2>&1
    KEY="$("$PY" manage.py create_api_key --name kill9 2>/dev/null | tail -1)"
    "$ROOT/.venv/bin/uvicorn" dashboard.asgi:application --host 127.0.0.1 --port "$PORT" --workers 1 \
        --loop uvloop --http httptools --no-access-log --log-level warning 2>/dev/null &
    GW=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/key" && break; sleep 0.1; done
    before="$(count)"
    BENCH_KEY="$KEY" wrk -t1 -c32 -d4s -s "$HERE/wrk/chat.lua" "http://127.0.0.1:$PORT/api/v1/chat/completions" \
        >/dev/null 2>&1 &
    WRK=$!
    sleep 2
    kill -9 "$GW"
    wait "$WRK" 2>/dev/null || true
    sleep 3  # the writer's process reads to the end of its input, writes, exits
    answered=$(( $(count) - before ))
    rows="$("$PY" -c "import django; django.setup(); from usage.models import LedgerEntry; print(LedgerEntry.objects.count())" 2>/dev/null)"
    # A restart replays the dead process's journal (usage/gateway/journal.py) before it serves.
    "$ROOT/.venv/bin/uvicorn" dashboard.asgi:application --host 127.0.0.1 --port "$PORT" --workers 1 \
        --loop uvloop --http httptools --no-access-log --log-level warning 2>/dev/null &
    GW=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/key" && break; sleep 0.1; done
    kill "$GW"; wait "$GW" 2>/dev/null || true
    after="$("$PY" -c "import django; django.setup(); from usage.models import LedgerEntry as L; print(L.objects.count(), L.objects.filter(status='interrupted').count())" 2>/dev/null)"
    echo "round $round: upstream answered $answered, ledger rows $rows, without a row $((answered - rows));" \
        "after the restart: rows ${after% *} (interrupted ${after#* }), without a row $((answered - ${after% *}))"
    rm -rf "$DATA"
done
