// The build sandbox for `run` steps and Debian configure steps.
//
// A command runs as pid 1 of fresh Linux namespaces (mount, pid, ipc, uts, and net unless
// network is asked for; plus a user namespace mapping the caller to root when strata does
// not run as root). Its root filesystem is an overlayfs: the image's layers so far are the
// lower dirs and a fresh upper dir collects everything the command changes, so the upper
// dir *is* the new layer (overlay whiteouts and opaque dirs become OCI ".wh." entries in the
// layer writer). See docs/sandbox.md for the exact environment the command sees.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/sandbox/gpu.hpp"
#include "oci/layer_writer.hpp"

namespace strata::cache {
class Store;
}

namespace strata::builder::sandbox {

/// What to run and in which root filesystem.
struct RunOptions {
  /// The command; argv[0] without '/' is searched in the PATH of `env`. Must not be empty.
  std::vector<std::string> argv;
  /// The whole environment, "NAME=value" each; nothing of strata's own environment leaks
  /// in. When no PATH is given, PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:
  /// /sbin:/bin is added.
  std::vector<std::string> env;
  /// Absolute working directory inside the rootfs; it must exist there.
  std::string workdir = "/";
  /// Numeric user and group the command runs as. Rootless (strata not root) supports only
  /// 0:0, the one id mapped into the user namespace.
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  /// Share the host's network (and bind its /etc/resolv.conf and /etc/hosts read-only).
  /// false: a new network namespace with only the loopback interface, brought up.
  bool network = false;
  /// The rootfs layers, topmost first (overlayfs lowerdir order). Empty = an empty rootfs.
  /// They are never written. Paths must not contain ':' ',' or '\\' (overlayfs syntax).
  std::vector<std::filesystem::path> lower_dirs;
  /// Hostname inside the sandbox.
  std::string hostname = "strata";
  /// Kill the whole sandbox (its pid namespace) after this many seconds; 0 = no limit.
  double timeout_seconds = 0;
  /// Optional: receives the command's output (stdout and stderr, interleaved) as it comes,
  /// on the calling thread. An exception thrown here kills the sandbox and propagates.
  std::function<void(std::string_view)> on_output;
  /// The upper dir already exists and holds earlier changes (a layer built by several
  /// steps): it is used as it is and, on failure, left for the caller to remove.
  bool upper_exists = false;
  /// How many trailing lines of output a failure message quotes.
  std::size_t tail_lines = 50;
  /// GPUs to pass through (`strata run --gpus`; gpu.hpp): device nodes and the host's driver
  /// files bound in read-only. Never set for build steps. The caller adds the environment
  /// (gpu_environment).
  GpuInjection gpus;
  /// Build steps only: fsync, fdatasync, sync, syncfs, sync_file_range and msync succeed
  /// without waiting for the disk (seccomp.hpp): the upper dir becomes a blob that strata
  /// makes durable itself. Ignored (the calls work normally) where the kernel refuses the
  /// filter. Never set for `strata run`.
  bool ignore_sync = false;
};

/// What a successful run produced.
struct RunResult {
  /// stdout and stderr interleaved; when more than 8 MiB, only the last 8 MiB.
  std::string output;
  /// True when running in a user namespace (rootless): every file of the upper dir is owned
  /// by the caller on the host and by 0:0 inside.
  bool rootless = false;
};

/// Runs `options.argv` in the sandbox with `upper` as the overlay upper dir. `upper` must not
/// exist (unless options.upper_exists); its parent must exist and be on a filesystem that can hold an overlay upper dir
/// (ext4, xfs, btrfs, tmpfs; rootless needs user xattrs). On success `upper` holds the
/// command's changes (the caller owns it; the mount points strata created are removed from
/// it) and the command's output is returned. On any failure `upper` is removed and Error is
/// thrown: InvalidInput when the command exits non-zero, is killed, times out, is not found
/// or the workdir is missing (the message quotes the command, its status and the last
/// `tail_lines` lines of output); Unsupported when the kernel refuses namespaces or
/// overlayfs; IO for other system failures. Thread-safe: concurrent runs use separate
/// processes and directories.
RunResult run(const RunOptions& options, const std::filesystem::path& upper);

/// A run turned into a layer blob.
struct LayerRun {
  RunResult run;
  oci::LayerResult layer;  // digest/diff_id of the blob now in the store
};

/// Runs the command (as `run`) with an upper dir in a temporary directory under
/// `scratch_parent` (default: $TMPDIR or /tmp), writes the upper dir as a layer into the
/// store (overlay whiteouts translated; rootless: all owners 0:0) and removes the upper dir.
/// A failed command stores nothing. Throws as `run`, plus the store's errors. Thread-safe as
/// far as the store is.
LayerRun run_to_layer(const RunOptions& options, cache::Store& store,
                      oci::LayerOptions layer_options,
                      const std::filesystem::path& scratch_parent = {});

/// Why this process cannot start a sandbox (namespaces refused: e.g. unprivileged user
/// namespaces disabled), or an empty string when it can. Costs one short-lived clone; does
/// not check overlayfs. Thread-safe.
std::string unavailable_reason();

}  // namespace strata::builder::sandbox
