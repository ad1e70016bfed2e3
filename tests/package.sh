#!/usr/bin/env bash
# Builds the deployable zip with cargo-lambda: arm64 (provided.al2023) when the aarch64
# standard library can be had, otherwise x86_64 (loudly). Leaves it where the README and
# the infra examples look, target/lambda/tfc-onboarder/bootstrap.zip in this repository
# (whatever CARGO_TARGET_DIR the build used), and prints that path last.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/tools.sh"
cd "$here/.."
ensure_python_tools

arch=arm64
if ! rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$'; then
    rustup target add aarch64-unknown-linux-gnu >&2 || arch=x86_64
fi
out="$CARGO_TARGET_DIR/lambda"
# A binary of the other architecture left here would be zipped as if it were fresh.
rm -rf "$out"
if [ "$arch" = arm64 ]; then
    cargo lambda build --release --arm64 --output-format zip --locked >&2
else
    printf '\n!!!!!!!!\n!!! WARNING: aarch64-unknown-linux-gnu is not available; building an x86_64 zip instead.\n!!! Deploy it with architecture = "x86_64" in the infra module.\n!!!!!!!!\n\n' >&2
    cargo lambda build --release --x86-64 --output-format zip --locked >&2
fi
built="$out/tfc-onboarder/bootstrap.zip"
repo="$(pwd -P)"
zip="$repo/target/lambda/tfc-onboarder/bootstrap.zip"
# With the build cache elsewhere, copy the zip to where the examples look; when
# target/ is the build directory (or a link to it) it is already there.
if [ "$(realpath -m "$built")" != "$(realpath -m "$zip")" ]; then
    mkdir -p "$(dirname "$zip")"
    cp "$built" "$zip"
fi
python3 - "$zip" "$arch" <<'PY' >&2
import sys, zipfile
path, arch = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(path) as z:
    names = z.namelist()
    if "bootstrap" not in names:
        sys.exit(f"{path} has no bootstrap entry: {names}")
    machine = z.read("bootstrap")[18:20]
expected = {"arm64": b"\xb7\x00", "x86_64": b"\x3e\x00"}[arch]
if machine != expected:
    sys.exit(f"bootstrap is not an {arch} ELF binary (e_machine {machine.hex()})")
import os
print(f"{path}: bootstrap for {arch}, {os.path.getsize(path)} bytes")
PY
echo "$zip"
