# Sourced by the project's scripts: installs (once) and puts on PATH the tools the tests,
# the demo and the benchmark need, outside the source tree so cargo-lambda's file watcher
# and git never see them. Override the location with TFC_ONBOARDER_TOOLS.
set -euo pipefail

TOOLS_DIR="${TFC_ONBOARDER_TOOLS:-$HOME/.cache/tfc-onboarder}"
VENV="$TOOLS_DIR/venv"
CHECKOV_VENV="$TOOLS_DIR/checkov-venv"
# Pinned so a new release cannot change behaviour under the tests.
PY_TOOLS=("moto[server]==5.2.5" "cargo-lambda==1.9.2" "python-hcl2==8.1.4" "pytest==9.2.0" "awscli==1.46.3")
CHECKOV="checkov==3.3.30"

log() { printf '==> %s\n' "$*" >&2; }

ensure_python_tools() {
    local stamp="$VENV/.installed-$(printf '%s ' "${PY_TOOLS[@]}" | md5sum | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
        log "installing ${PY_TOOLS[*]} into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
        touch "$stamp"
    fi
    # checkov bundles its own, conflicting hcl2: it gets a virtualenv of its own.
    local cstamp="$CHECKOV_VENV/.installed-${CHECKOV#checkov==}"
    if [ ! -f "$cstamp" ]; then
        log "installing $CHECKOV into $CHECKOV_VENV"
        python3 -m venv "$CHECKOV_VENV"
        "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "$CHECKOV"
        touch "$cstamp"
    fi
    export PATH="$VENV/bin:$PATH"
    export CHECKOV="$CHECKOV_VENV/bin/checkov"
}

# The arm64 standard library, for `cargo lambda build --arm64`. Fails loudly when it
# cannot be installed: the deploy rehearsal builds the README's zip with it.
ensure_arm64_target() {
    if ! rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$'; then
        log "installing the aarch64-unknown-linux-gnu standard library"
        rustup target add aarch64-unknown-linux-gnu >&2 || {
            log "cannot install aarch64-unknown-linux-gnu (rustup target add failed): the deploy rehearsal needs it"
            return 1
        }
    fi
}

# Terraform is not installed by these scripts (it is not on PyPI); the rehearsal finds it
# and the hashicorp/aws provider mirror itself and says what is missing.
require_terraform() {
    if ! command -v "${TERRAFORM:-terraform}" >/dev/null; then
        log "terraform not found: install Terraform >= 1.5 or set TERRAFORM to its path"
        return 1
    fi
}

# A build cache outside the clone makes repeated runs fast; a fresh machine builds from scratch.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TOOLS_DIR/target}"
