#!/usr/bin/env bash
# `strata run --gpus`: NVIDIA device nodes and the host's driver files passed into the
# sandbox. CI has no GPU, so the driver is a fake one under --gpu-driver-root: real character
# device nodes (mknod, root only) and a libcuda.so built here. The same code path on a real
# GPU node is checked by tests/gpu/device_check.sh (docs/gpu.md).
source "$(dirname "$0")/lib.sh"
require_tools gcc mknod setpriv
[ "$(id -u)" = 0 ] || fail "this test makes device nodes with mknod and must run as root"

FIXDIR="$STRATA_SOURCE_DIR/tests/fixtures/gpu"
MA=$(gcc -print-multiarch)

# --- a fake driver root --------------------------------------------------------------------
D="$WORK/driver"
mkdir -p "$D/dev/nvidia-caps" "$D/usr/lib/$MA" "$D/usr/bin"
mknod "$D/dev/nvidiactl" c 195 255
mknod "$D/dev/nvidia0" c 195 0
mknod "$D/dev/nvidia1" c 195 1
mknod "$D/dev/nvidia-uvm" c 511 0
mknod "$D/dev/nvidia-caps/nvidia-cap1" c 237 1
chmod 666 "$D"/dev/nvidia*
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$D/usr/lib/$MA/libcuda.so.580.1.2" "$FIXDIR/fake_libcuda.c"
ln -s libcuda.so.580.1.2 "$D/usr/lib/$MA/libcuda.so.1"
ln -s libcuda.so.1 "$D/usr/lib/$MA/libcuda.so"
gcc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o "$D/usr/lib/$MA/libnvidia-ml.so.580.1.2" "$FIXDIR/fake_libcuda.c"
ln -s libnvidia-cfg.so.580.1.2 "$D/usr/lib/$MA/libnvidia-cfg.so.1"   # dangling: left out
printf '#include <stdio.h>\nint main(void){puts("fake nvidia-smi");return 0;}\n' >"$WORK/smi.c"
gcc -o "$D/usr/bin/nvidia-smi" "$WORK/smi.c"

# --- a minimal rootfs: the host's dynamic loader and libc, and the probe -------------------
R="$WORK/rootfs"
mkdir -p "$R/usr/bin" "$R/usr/lib/$MA" "$R/lib64"
gcc -o "$R/usr/bin/probe" "$FIXDIR/probe.c"
for lib in $(ldd "$R/usr/bin/probe" | grep -o '/[^ ]*'); do
  cp -L "$lib" "$R$lib" 2>/dev/null || { mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"; }
done
cp -L "$D/usr/bin/nvidia-smi" "$WORK/smi-bin"
chmod -R a+rX "$R" "$D"

paths="/dev/nvidia0 /dev/nvidia1 /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-caps
  /dev/nvidia-caps/nvidia-cap1 /usr/local/nvidia/lib64/libcuda.so.1
  /usr/local/nvidia/lib64/libcuda.so.580.1.2 /usr/local/nvidia/lib64/libnvidia-ml.so.1
  /usr/local/nvidia/lib64/libnvidia-cfg.so.1 /usr/local/nvidia/bin/nvidia-smi"

# --- all GPUs ------------------------------------------------------------------------------
strata run --gpus all --gpu-driver-root "$D" --rootfs "$R" -e LD_LIBRARY_PATH=/opt/lib \
  -- /usr/bin/probe $paths >"$WORK/all.out" 2>"$WORK/all.err" ||
  fail "run --gpus all: $(cat "$WORK/all.out" "$WORK/all.err")"
for want in "/dev/nvidia0 char" "/dev/nvidia1 char" "/dev/nvidiactl char" "/dev/nvidia-uvm char" \
  "/dev/nvidia-caps dir" "/dev/nvidia-caps/nvidia-cap1 char" \
  "/usr/local/nvidia/lib64/libcuda.so.1 link" "/usr/local/nvidia/lib64/libcuda.so.580.1.2 read-only" \
  "/usr/local/nvidia/lib64/libnvidia-ml.so.1 link" "/usr/local/nvidia/lib64/libnvidia-cfg.so.1 missing" \
  "/usr/local/nvidia/bin/nvidia-smi read-only" "LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/opt/lib" \
  "NVIDIA_VISIBLE_DEVICES=all" "cuDriverGetVersion 13000"; do
  grep -qx "$want" "$WORK/all.out" || fail "--gpus all: expected '$want' in: $(cat "$WORK/all.out")"
done
grep -q "driver 580.1.2" "$WORK/all.err" || fail "the driver version is not reported: $(cat "$WORK/all.err")"
pass "--gpus all: every GPU node, the control devices, the driver libraries read-only, libcuda loads"

strata run --gpus all --gpu-driver-root "$D" --rootfs "$R" -- nvidia-smi >"$WORK/smi.out" 2>&1 ||
  fail "nvidia-smi through PATH: $(cat "$WORK/smi.out")"
grep -qx "fake nvidia-smi" "$WORK/smi.out" || fail "nvidia-smi: $(cat "$WORK/smi.out")"
pass "the driver's nvidia-smi is on the PATH inside"

# --- one GPU, and rootless -----------------------------------------------------------------
strata run --gpus 1 --gpu-driver-root "$D" --rootfs "$R" -- /usr/bin/probe $paths >"$WORK/one.out" 2>&1 ||
  fail "run --gpus 1: $(cat "$WORK/one.out")"
grep -qx "/dev/nvidia0 missing" "$WORK/one.out" || fail "--gpus 1 exposed GPU 0: $(cat "$WORK/one.out")"
grep -qx "/dev/nvidia1 char" "$WORK/one.out" || fail "--gpus 1 lacks GPU 1: $(cat "$WORK/one.out")"
grep -qx "NVIDIA_VISIBLE_DEVICES=1" "$WORK/one.out" || fail "--gpus 1: $(cat "$WORK/one.out")"
pass "--gpus 1 passes only /dev/nvidia1"

chmod 755 "$WORK"
mkdir -p "$WORK/nobody" && chown nobody "$WORK/nobody"
# A rootless user's images are the user's own files (its store's snapshots).
cp -a "$R" "$WORK/nobody/rootfs" && chown -R nobody:nogroup "$WORK/nobody/rootfs"
cp "$STRATA_BIN" "$WORK/nobody/strata"   # the build tree may not be readable by nobody
setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$WORK/nobody" TMPDIR="$WORK/nobody" \
  "$WORK/nobody/strata" run --gpus 0 --gpu-driver-root "$D" --rootfs "$WORK/nobody/rootfs" -- /usr/bin/probe $paths \
  >"$WORK/rl.out" 2>&1 || fail "rootless run --gpus 0: $(cat "$WORK/rl.out")"
grep -qx "/dev/nvidia0 char" "$WORK/rl.out" && grep -qx "cuDriverGetVersion 13000" "$WORK/rl.out" ||
  fail "rootless --gpus 0: $(cat "$WORK/rl.out")"
pass "rootless (as nobody): the GPU and the driver are passed through the user namespace"

# --- without --gpus nothing leaks ----------------------------------------------------------
strata run --rootfs "$R" -- /usr/bin/probe /dev/nvidia0 /usr/local/nvidia >"$WORK/none.out" 2>&1 && \
  fail "without --gpus libcuda loaded: $(cat "$WORK/none.out")"
grep -qx "/dev/nvidia0 missing" "$WORK/none.out" && grep -qx "/usr/local/nvidia missing" "$WORK/none.out" ||
  fail "without --gpus: $(cat "$WORK/none.out")"
pass "without --gpus no GPU and no driver file is visible"

# --- bad input -----------------------------------------------------------------------------
expect_fail 4 strata run --gpus 3 --gpu-driver-root "$D" --rootfs "$R" -- /usr/bin/probe
grep -q "GPU 3 does not exist.*this machine has: 0,1" "$WORK/err" || fail "--gpus 3: $(cat "$WORK/err")"
expect_fail 3 strata run --gpus banana --gpu-driver-root "$D" --rootfs "$R" -- /usr/bin/probe
grep -q 'expected "all" or GPU indices' "$WORK/err" || fail "--gpus banana: $(cat "$WORK/err")"
mkdir -p "$WORK/nodriver/dev"
expect_fail 4 strata run --gpus all --gpu-driver-root "$WORK/nodriver" --rootfs "$R" -- /usr/bin/probe
grep -q "no NVIDIA driver on this machine" "$WORK/err" || fail "no driver: $(cat "$WORK/err")"
rm -f "$D/usr/lib/$MA"/libcuda.so*
expect_fail 4 strata run --gpus all --gpu-driver-root "$D" --rootfs "$R" -- /usr/bin/probe
grep -q "libcuda.so.1 was not found" "$WORK/err" || fail "no libcuda: $(cat "$WORK/err")"
pass "bad --gpus values and a missing driver are refused with what to do"
