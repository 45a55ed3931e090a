#!/usr/bin/env bash
# The GPU node check, run ON a machine with an NVIDIA GPU (never in CI; docs/gpu.md): the
# node side of strata end to end with a real GPU. From the bundle made by prepare.sh:
#   1. strata's embedded registry serves the cuda-smoke image; strata pushes it there;
#   2. `strata pull --unpack` puts it onto the node as a root filesystem;
#   3. `strata run --gpus all` runs cuda-smoke in the sandbox: the image's CUDA runtime with
#      the host's driver, a 256 MiB round trip and a PTX kernel JIT-compiled by the driver;
#      nvidia-smi -L from the injected driver; and, as a control, the same program without
#      --gpus must fail;
#   4. the same as an unprivileged user (rootless sandbox in a user namespace).
# usage: tests/gpu/device_check.sh BUNDLE [LOG]      exit 0 only when every step passed
set -uo pipefail
bundle=$(realpath "$1")
log=${2:-/dev/null}
exec > >(tee -a "$log") 2>&1
mkdir -p /tmp/strata-bin && tar -C /tmp/strata-bin -xJf "$bundle/strata.tar.xz"
S=/tmp/strata-bin/strata
export LD_LIBRARY_PATH=/tmp/strata-bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export STRATA_HOME=/tmp/strata-node/store
rm -rf /tmp/strata-node && mkdir -p /tmp/strata-node
# The sandbox's overlay upper dir must not sit on an overlayfs (a container's root): use a tmpfs.
mkdir -p /tmp/strata-tmp && { mountpoint -q /tmp/strata-tmp || mount -t tmpfs tmpfs /tmp/strata-tmp; }
chmod 1777 /tmp/strata-tmp
export TMPDIR=/tmp/strata-tmp
failed=0
step() { echo "=== $*"; }
check() { if "$@"; then echo "PASS: $*"; else echo "FAIL ($?): $*"; failed=1; fi; }

step "machine"
uname -r; df -T /tmp | tail -1; nvidia-smi -L; ls -l /dev/nvidia* 2>&1 | head; "$S" --version
ldconfig -p | grep -E 'libcuda\.so|libnvidia-ml' | head

step "registry + push + pull --unpack"
port=5123
"$S" registry serve --root /tmp/strata-node/registry --addr 127.0.0.1:$port >/tmp/strata-node/reg.log 2>&1 &
reg=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
t0=$(date +%s.%N)
check "$S" push "oci:$bundle/layout:latest" "127.0.0.1:$port/smoke:1"
t1=$(date +%s.%N)
check "$S" pull "127.0.0.1:$port/smoke:1" --unpack /tmp/strata-node/rootfs
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "push %.2f s, pull --unpack %.2f s\n", b - a, c - b }'

step "strata run --gpus all cuda-smoke"
check "$S" run --gpus all --rootfs /tmp/strata-node/rootfs -- /usr/local/bin/cuda-smoke
check "$S" run --gpus 0 --rootfs /tmp/strata-node/rootfs -- nvidia-smi -L
step "control: without --gpus cuda-smoke must fail"
if "$S" run --rootfs /tmp/strata-node/rootfs -- /usr/local/bin/cuda-smoke; then
  echo "FAIL: cuda-smoke passed without --gpus"; failed=1
else
  echo "PASS: without --gpus the image has no driver"
fi

step "rootless (uid 65534)"
mkdir -p /tmp/strata-rl && cp -r /tmp/strata-bin/strata /tmp/strata-bin/lib /tmp/strata-rl/ && chown -R 65534 /tmp/strata-rl
chmod 755 /tmp/strata-rl
rl() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp/strata-rl TMPDIR=/tmp/strata-tmp \
  STRATA_HOME=/tmp/strata-rl/store LD_LIBRARY_PATH=/tmp/strata-rl/lib /tmp/strata-rl/strata "$@"; }
check rl pull "127.0.0.1:$port/smoke:1" --unpack /tmp/strata-rl/rootfs
check rl run --gpus all --rootfs /tmp/strata-rl/rootfs -- /usr/local/bin/cuda-smoke
kill $reg
echo "=== result: $([ $failed = 0 ] && echo ALL PASSED || echo FAILURES)"
exit $failed
