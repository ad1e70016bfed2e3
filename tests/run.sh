#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (against moto and the Terraform
# Cloud fake on 127.0.0.1, and the Lambda runtime path through cargo-lambda), then the
# offline checks of the Terraform module (python-hcl2 and checkov).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/tools.sh"
cd "$here/.."
ensure_python_tools

log "cargo test (target dir: $CARGO_TARGET_DIR)"
cargo test --all-targets --locked -- --test-threads "${TEST_THREADS:-4}"

log "infra checks"
"$VENV/bin/python" -m pytest -q tests/infra
