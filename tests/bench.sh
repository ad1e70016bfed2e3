#!/usr/bin/env bash
# The benchmark: builds the release binary and the deployment zip, then measures cold start,
# one onboarding, the readiness of new accounts, peak memory, sweep scale and artifact size
# against moto and the Terraform Cloud fake on loopback. Prints a table, then JSON.
#
#   tests/bench.sh [--quick] [--json PATH] [--strict] [--keep-logs] [--cold-starts N]
#                  [--sweep-sizes 200,1000] [--tfc-latency-ms 20-50] [--tfc-rate-limit 30]
#                  [--concurrency 8] [--readiness-closed-secs 10,40,120] [--readiness-runs 5]
#                  [--readiness-only] [--loop-accounts 1000] [--burst-events 300]
#                  [--burst-containers 2]
#   tests/bench.sh --soak [--quick] [--seed N] [--soak-accounts 500] [--soak-events 50]
#                  [--fault-rates 0.05,0.15] [--json PATH] [--strict] [--keep-logs]
#
# --quick (CI): 5 cold starts, readiness after 5 s closed (2 runs), sweeps over 10 and 30
# accounts, the sweep loop over 60 accounts, a burst of 60 events. Default (full): 20 cold
# starts, readiness after 10, 40 and 120 s closed (5 runs each), sweeps over 200 and 1000, the
# sweep loop over 1000 accounts (>= 3 invocations), a burst of 300 events through the queue.
# --strict: exit 2 when a target is missed.
# --soak: only the chaos soak (random faults on both sides, overlapping events) over 500
# accounts (quick: 60) at each fault rate; the seed is printed, --seed replays a run.
# Tools (moto_server, cargo-lambda) come from tests/tools.sh, as for the tests.
set -euo pipefail

invoked_from=$PWD
args=()
soak=false
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help)
            sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --soak)
            soak=true
            args+=("$1")
            ;;
        --json)
            [ $# -ge 2 ] || { echo "bench.sh: --json needs a path" >&2; exit 2; }
            # Relative to where the script was started, not to the repository.
            case "$2" in /*) args+=(--json "$2") ;; *) args+=(--json "$invoked_from/$2") ;; esac
            shift
            ;;
        --zip | --zip-arch | --zip-note | --binary)
            echo "bench.sh: $1 is set by this script" >&2
            exit 2
            ;;
        *) args+=("$1") ;;
    esac
    shift
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/tools.sh"
cd "$here/.."
ensure_python_tools

started=$SECONDS
log "benchmark: building the release binary"
cargo build --release --locked --bin tfc-onboarder >&2
binary="$CARGO_TARGET_DIR/release/tfc-onboarder"

bench_args=(--binary "$binary")
# The soak measures no artifact.
if [ "$soak" = false ]; then
    log "benchmark: building the deployment zip"
    zip=$("$here/package.sh" | tail -n 1)
    # package.sh falls back to x86_64 when the arm64 standard library cannot be had; the figure
    # must say which one it is, so it is read from the ELF header of the zipped bootstrap.
    zip_arch=$(python3 - "$zip" <<'PY'
import sys, zipfile
machine = zipfile.ZipFile(sys.argv[1]).read("bootstrap")[18:20]
print({b"\xb7\x00": "arm64", b"\x3e\x00": "x86_64"}.get(machine, "unknown"))
PY
    )
    bench_args+=(--zip "$zip" --zip-arch "$zip_arch")
    if [ "$zip_arch" != arm64 ]; then
        printf '\n!!!!!!!!\n!!! WARNING: the zip is %s, not arm64: its size is not the figure the target is about.\n!!!!!!!!\n\n' "$zip_arch" >&2
        bench_args+=(--zip-note "arm64 could not be built; $zip_arch measured instead")
    fi
fi

log "benchmark: building the benchmark program"
# The harness (moto driver, fake, Runtime API) is built in debug: what is measured is the
# release binary it spawns, the figures are the same either way, and the test run has
# already built it, which saves a second release build of every dependency.
cargo build --locked --example bench >&2
build_secs=$((SECONDS - started))

log "benchmark: measuring (builds took ${build_secs} s)"
status=0
"$CARGO_TARGET_DIR/debug/examples/bench" "${bench_args[@]}" "${args[@]}" || status=$?
log "benchmark finished in $((SECONDS - started)) s (builds ${build_secs} s)"
exit "$status"
