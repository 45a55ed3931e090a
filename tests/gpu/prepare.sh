#!/usr/bin/env bash
# Prepares the GPU node check (docs/gpu.md): compiles cuda-smoke, builds the cuda-smoke image
# from its committed lock (Debian trixie + libcudart12 from the mirror) and writes a
# self-contained bundle that tests/gpu/device_check.sh runs on a GPU machine:
#   BUNDLE/strata.tar.xz   this build's strata and its shared libraries (not glibc)
#   BUNDLE/layout/         the image as an OCI layout (layers recompressed at zstd -19)
# usage: tests/gpu/prepare.sh [BUNDLE]      (default .gpu; needs build/strata and the mirror)
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:-.gpu}
strata=${STRATA_BIN:-$PWD/build/strata}
rm -rf "$bundle" && mkdir -p "$bundle/lib"
gcc -O2 -Wall -Wextra -Werror -o tests/gpu/cuda-smoke/cuda-smoke tests/gpu/cuda_smoke.c
"$strata" -q build tests/gpu/cuda-smoke --locked -o "oci:$bundle/layout"
rm -f "$bundle"/layout/sbom.*.json
# The machine's transfer limit is 64 MiB: layers at zstd -19, strata and its libraries as xz.
python3 tests/gpu/recompress_layout.py "$bundle/layout"
mkdir -p "$bundle/tmp/lib"
cp "$strata" "$bundle/tmp/strata"
for lib in $(ldd "$strata" | grep -o '/[^ ]*\.so[^ ]*'); do
  case $(basename "$lib") in
    libc.so.*|libm.so.*|ld-linux*|libresolv.so.*|libdl.so.*|libpthread.so.*|librt.so.*) ;;
    *) cp -L "$lib" "$bundle/tmp/lib/" ;;
  esac
done
tar -C "$bundle/tmp" -cf - strata lib | xz -T2 -6 >"$bundle/strata.tar.xz"
rm -rf "$bundle/tmp" "$bundle/lib"
du -sh "$bundle"
