#!/usr/bin/env bash
# Runs the main job on the local simulated environment: see tests/demo/main.rs.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/tools.sh"
cd "$here/.."
ensure_python_tools
cargo build --locked --quiet --bin tfc-onboarder
cargo run --locked --quiet --example local-demo -- "$CARGO_TARGET_DIR/debug/tfc-onboarder"
