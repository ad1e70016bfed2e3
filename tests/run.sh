#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (against moto and the Terraform
# Cloud fake on 127.0.0.1, and the Lambda runtime path through cargo-lambda), the offline
# checks of the Terraform module (python-hcl2 and checkov), then the deploy rehearsal:
# the module's examples and the README's Deploy section through the real Terraform CLI
# against moto, and the deployed function at work under IAM enforcement.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/tools.sh"
cd "$here/.."
ensure_python_tools

log "cargo test (target dir: $CARGO_TARGET_DIR)"
cargo test --all-targets --locked -- --test-threads "${TEST_THREADS:-4}"

log "infra checks"
"$VENV/bin/python" -m pytest -q tests/infra

log "deploy rehearsal"
# The rehearsal runs the x86_64 release build as the Lambda (the zip's arm64 bootstrap
# cannot run here), and the README's `cargo lambda build --arm64` needs the arm64
# standard library. Both builds are the ones package.sh and bench.sh use afterwards.
cargo build --release --locked --bin tfc-onboarder
# The Terraform Cloud fake the rehearsal serves: `cargo test --all-targets` builds examples
# only as test harnesses, never as the program itself.
cargo build --locked --example tfc-fake
ensure_arm64_target
require_terraform
"$VENV/bin/python" -m pytest -q tests/rehearsal
