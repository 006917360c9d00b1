#!/usr/bin/env bash
# Install the anchors of bench/gateway_targets.py outside the repository (idempotent; nothing is committed).
#
#   bench/setup.sh [litellm|portkey]...      (default: both)
#
# - LiteLLM into $LITELLM_VENV (default /tmp/litellm-venv), pinned LITELLM_VERSION (default 1.106.2), through
#   ../shared/bench/litellm.sh install.
# - Portkey's open-source gateway into $PORTKEY_DIR (default /tmp/portkey), from npm.
# It checks, and only names, what it cannot install: nginx, wrk, the nginx Lua module, node/npm.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
export LITELLM_VERSION="${LITELLM_VERSION:-1.106.2}"
export LITELLM_VENV="${LITELLM_VENV:-/tmp/litellm-venv}"
PORTKEY_DIR="${PORTKEY_DIR:-/tmp/portkey}"
PORTKEY_START="$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js"

missing=0
for tool in nginx wrk; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install -y nginx wrk libnginx-mod-http-lua)" >&2; missing=1; }
done
[[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ]] ||
    { echo "missing: the nginx Lua module (apt-get install -y libnginx-mod-http-lua)" >&2; missing=1; }
[[ -x "$SHARED/litellm.sh" ]] || { echo "missing: $SHARED (the shared bench harness)" >&2; missing=1; }

install_litellm() {
    local have=""
    [[ -x "$LITELLM_VENV/bin/pip" ]] &&
        have="$("$LITELLM_VENV/bin/pip" show litellm 2>/dev/null | sed -n 's/^Version: //p')"
    if [[ "$have" == "$LITELLM_VERSION" && -x "$LITELLM_VENV/bin/litellm" ]]; then
        echo "litellm $have already in $LITELLM_VENV"
    else
        "$SHARED/litellm.sh" install
    fi
}

install_portkey() {
    command -v npm >/dev/null || { echo "missing: node and npm (apt-get install -y nodejs npm)" >&2; return 1; }
    if [[ -f "$PORTKEY_START" ]]; then
        echo "portkey gateway already in $PORTKEY_DIR ($(node -p "require('$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json').version"))"
        return 0
    fi
    mkdir -p "$PORTKEY_DIR"
    (cd "$PORTKEY_DIR" && npm install --no-audit --no-fund @portkey-ai/gateway)
    echo "portkey gateway installed in $PORTKEY_DIR"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(litellm portkey)
for target in "${targets[@]}"; do
    case "$target" in
        litellm) install_litellm ;;
        portkey) install_portkey ;;
        *) echo "usage: bench/setup.sh [litellm|portkey]..." >&2; exit 2 ;;
    esac
done
exit "$missing"
