#!/usr/bin/env bash
# Benchmark: packing and unpacking a ~1 GB tree of mixed files, strata vs GNU tar + zstd.
#   pack:   strata layer pack DIR --level 3 --threads 2
#   peer:   tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - DIR | zstd -3 -T2
#   unpack: strata layer unpack L DIR   vs   zstd -dc L | tar -x -C DIR
# The tree is a copy of /usr/share and /usr/lib/gcc (~57k small files plus large binaries).
# usage: bench/layer_pack_unpack.sh [RUNS]   (needs a built ./build/strata)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
strata=${STRATA_BIN:-$PWD/build/strata}
work=${BENCH_DIR:-/var/tmp/strata-bench}
mkdir -p "$work"
tree="$work/tree"
if [ ! -d "$tree" ]; then
  mkdir -p "$tree"
  cp -a /usr/share "$tree/share"
  cp -a /usr/lib/gcc "$tree/gcc"
fi
echo "tree: $(du -sh --apparent-size "$tree" | cut -f1), $(find "$tree" | wc -l) entries"
tar -cf - "$tree" 2>/dev/null | cat >/dev/null  # warm the page cache for both sides

py=bench/pair.py
out="$work/results.jsonl"
: >"$out"
python3 $py --name "pack ~1GB zstd-3 (2 threads)" --runs "$runs" --json "$out" \
  "$strata layer pack $tree -o $work/s.tar.zst --level 3 --threads 2 --source-date-epoch 0" \
  "tar -C $tree --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | zstd -q -3 -T2 -o $work/t.tar.zst -f"
ls -l "$work/s.tar.zst" "$work/t.tar.zst"
# The peer does not hash; the same pipeline with both digests computed (tee into openssl dgst, which uses the CPU's SHA instructions like strata)
# shows what strata's extra work costs.
python3 $py --name "pack ~1GB zstd-3, peer also computing both sha256" --runs "$runs" --json "$out" \
  "$strata layer pack $tree -o $work/s.tar.zst --level 3 --threads 2 --source-date-epoch 0" \
  "tar -C $tree --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | tee >(openssl dgst -sha256 >$work/t.diffid) | zstd -q -3 -T2 -c | tee >(openssl dgst -sha256 >$work/t.digest) >$work/t.tar.zst"
# Unpack into tmpfs so that disk writeback (which dominates and varies by seconds between
# runs on this machine) does not drown the CPU work both sides do.
unpack_dir=${BENCH_UNPACK_DIR:-/dev/shm/strata-bench-out}
python3 $py --name "unpack ~1GB zstd layer into tmpfs" --runs "$runs" --json "$out" \
  --prepare "rm -rf $unpack_dir && mkdir -p $unpack_dir" \
  "$strata layer unpack $work/s.tar.zst $unpack_dir" \
  "zstd -q -dc $work/s.tar.zst | tar -x -C $unpack_dir"
rm -rf "$unpack_dir"
