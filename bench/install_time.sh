#!/usr/bin/env bash
# `make install` on a fresh clone, timed: once with uv's download cache empty (every wheel
# fetched from the package index) and once with it warm (a developer's second clone, CI on a
# machine that installed before). Usage: bash bench/install_time.sh [REPO]  (default: this checkout)
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export UV_CACHE_DIR="$work/uv-cache"

run() {  # run LABEL: fresh clone, `make install`, seconds
    rm -rf "$work/clone"
    git clone -q "$repo" "$work/clone"
    local start end
    start=$(date +%s.%N)
    make -s -C "$work/clone" install >"$work/$1.log" 2>&1 || { cat "$work/$1.log"; exit 1; }
    end=$(date +%s.%N)
    printf '%-28s %6.1f s\n' "$1" "$(echo "$end - $start" | bc)"
}

echo "make install on a fresh clone of $repo ($(nproc) cores)"
run "cold (empty uv cache)"
run "warm (uv cache kept)"
"$work/clone/.venv/bin/python" -c "import prefect, boto3, botocore, aiobotocore; print('installed: prefect', prefect.__version__, '| boto3', boto3.__version__, '| botocore', botocore.__version__, '| aiobotocore', aiobotocore.__version__)"
