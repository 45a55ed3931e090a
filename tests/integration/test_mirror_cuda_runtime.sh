#!/usr/bin/env bash
# REAL MIRROR (marked: the name says "mirror"; ctest label "mirror"): the catalog recipe
# cuda/12.4-runtime built for real from its committed lock, cold (STRATA_HOME in $WORK:
# ~690 MiB of .debs from trixie main + non-free are downloaded), against the mirror of this
# machine's apt sources (or STRATA_DEBIAN_MIRROR). What a user of the image relies on:
#   - libcudart.so.12 and libcublas.so.12 are in the image's loader cache (`ldconfig -p`
#     inside the image), the files exist, and the loader resolves every library they need;
#   - the image config sets NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES, which the
#     GPU container runtimes read to inject the driver;
#   - the CUDA layer (655 MiB of .debs) is split so that every layer's compressed size (from
#     the manifest) stays under the recipe's layer budget;
#   - the layers below, base/debian-trixie, are the same digests as building base/debian-trixie
#     alone in the same store (the base is shared with every other image).
source "$(dirname "$0")/lib.sh"
require_tools python3
start=$SECONDS

CAT="$WORK/catalog"
cp -r "$STRATA_SOURCE_DIR/recipes" "$CAT"   # with the committed locks
strata --catalog "$CAT" lock --check "$CAT/cuda/12.4-runtime.toml" >/dev/null 2>"$WORK/check.err" ||
  fail "recipes/cuda/12.4-runtime.lock does not agree with its recipe: $(cat "$WORK/check.err")"

# The base alone first, then the CUDA image on top of it in the same store.
strata --json --catalog "$CAT" build "$CAT/base/debian-trixie.toml" --locked -t base-alone:test \
  >"$WORK/base.json" 2>"$WORK/base.err" ||
  fail "building base/debian-trixie failed: $(tail -30 "$WORK/base.err")"
t0=$SECONDS
strata --json --catalog "$CAT" build "$CAT/cuda/12.4-runtime.toml" --locked -t cuda-runtime:test \
  >"$WORK/cuda.json" 2>"$WORK/cuda.err" ||
  fail "building cuda/12.4-runtime failed: $(tail -30 "$WORK/cuda.err")"
pass "cuda/12.4-runtime builds from its lock ($((SECONDS - t0)) s; base alone before it: $((t0 - start)) s)"

python3 - "$WORK/base.json" "$WORK/cuda.json" <<'PY' || fail "the CUDA image does not share the base's layers"
import json, sys
base = json.load(open(sys.argv[1]))["layers"]
cuda = json.load(open(sys.argv[2]))["layers"]
assert len(cuda) > len(base), (len(base), len(cuda))
for i, (b, c) in enumerate(zip(base, cuda)):
    assert b["digest"] == c["digest"], \
        f"layer {i} ({b['created_by'][:60]}): base alone {b['digest']}, under CUDA {c['digest']}"
PY
pass "the CUDA image's $(json_get "$WORK/base.json" 'len(d["layers"])') lowest layers are base/debian-trixie's, digest for digest"

strata --json inspect cuda-runtime:test >"$WORK/inspect.json"
python3 - "$WORK/inspect.json" "$CAT" "$WORK/cuda.json" <<'PY' || fail "a layer is over the layer budget"
import json, sys, tomllib
d = json.load(open(sys.argv[1]))
# The budget: cuda/12.4-runtime's `layer_budget`, else its parent's, else 512 MiB.
budget = 536870912
for name in ("base/debian-trixie", "cuda/12.4-runtime"):
    r = tomllib.load(open(f"{sys.argv[2]}/{name}.toml", "rb"))
    budget = r.get("recipe", {}).get("layer_budget", budget)
layers = d["manifest"]["layers"]
over = [(l["digest"], l["size"]) for l in layers if l["size"] > budget]
assert not over, f"over the {budget}-byte budget: {over}"
built = json.load(open(sys.argv[3]))["layers"]
assert [l["digest"] for l in built] == [l["digest"] for l in layers], "build and manifest disagree"
cuda = [l for l in built if "layer cuda-runtime" in l["created_by"]]
assert len(cuda) >= 2, f"the 655 MiB CUDA layer was not split: {len(cuda)} layer(s)"
print(f"{len(layers)} layers, largest {max(l['size'] for l in layers) / 2**20:.1f} MiB, "
      f"CUDA in {len(cuda)}, budget {budget / 2**20:.0f} MiB", file=sys.stderr)
PY
pass "every layer's compressed size is under the layer budget; the CUDA layer is split"

json_get "$WORK/inspect.json" '"\n".join(d["config"]["config"]["Env"])' >"$WORK/env"
grep -qx 'NVIDIA_VISIBLE_DEVICES=all' "$WORK/env" ||
  fail "the image env has no NVIDIA_VISIBLE_DEVICES=all: $(cat "$WORK/env")"
grep -qx 'NVIDIA_DRIVER_CAPABILITIES=compute,utility' "$WORK/env" ||
  fail "the image env has no NVIDIA_DRIVER_CAPABILITIES=compute,utility: $(cat "$WORK/env")"
pass "the image env sets NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES"

# Inside the image: the loader cache lists both libraries, the files behind them are there,
# and the loader finds every library they link against (no GPU or driver needed for that).
strata run cuda-runtime:test -- ldconfig -p >"$WORK/ldconfig" 2>"$WORK/run.err" ||
  fail "ldconfig -p failed in the image: $(tail -20 "$WORK/run.err")"
paths=()
for lib in libcudart.so.12 libcublas.so.12; do
  path=$(awk -v lib="$lib" '$1 == lib && /x86-64/ { print $NF; exit }' "$WORK/ldconfig")
  [ -n "$path" ] || fail "ldconfig -p in the image does not list $lib: $(grep -i cu "$WORK/ldconfig")"
  paths+=("$path")
done
# shellcheck disable=SC2016
strata run cuda-runtime:test -- sh -c '
  for f in "$@"; do
    [ -f "$f" ] && [ -s "$f" ] || { echo "$f: no such file" >&2; exit 1; }
    /lib64/ld-linux-x86-64.so.2 --list "$f" || exit 1
  done' sh "${paths[@]}" >"$WORK/ldlist" 2>"$WORK/run.err" ||
  fail "the CUDA libraries do not load in the image: $(cat "$WORK/run.err" "$WORK/ldlist")"
! grep -q 'not found' "$WORK/ldlist" ||
  fail "a library the CUDA libraries need is missing: $(grep 'not found' "$WORK/ldlist")"
grep -q 'libcublasLt.so.12 => /' "$WORK/ldlist" || fail "libcublas.so.12 does not find libcublasLt.so.12"
pass "libcudart.so.12 and libcublas.so.12 resolve in the image (${paths[*]})"
echo "took $((SECONDS - start)) s"
