// Internal to the sandbox: which mount points the rootfs lacks, and removing them afterwards.
//
// /proc, /dev, /tmp, /sys (and with network, /etc/resolv.conf and /etc/hosts) are mounted
// over paths of the merged rootfs. When the layers do not have such a path, the child creates
// it in the merged view, which puts it into the upper dir, i.e. into the new layer. After the
// run these created paths are removed again from the upper dir when they are still empty,
// together with parents that overlayfs copied up only to hold them (an empty directory whose
// mode and owner equal the lower one's), so a step that does nothing produces an empty layer.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "builder/sandbox/child.hpp"
#include "builder/sandbox/gpu.hpp"

namespace strata::builder::sandbox::detail {

/// Fills plan.create, plan.proc/dev/tmp/sys, the /dev binds and links and, with `network`,
/// plan.etc_binds, for a rootfs made of `lowers` (topmost first) mounted at plan.merged.
/// With a non-empty `gpu`, also the GPU driver directory, device nodes and driver files.
/// Returns the paths (relative, parents first) that the child will create. Throws
/// InvalidInput when the rootfs has /proc, /dev or /tmp (or, with `gpu`, /usr/local/nvidia)
/// as something other than a directory.
std::vector<std::string> plan_mount_points(const std::vector<std::filesystem::path>& lowers,
                                           bool network, ChildPlan& plan,
                                           const GpuInjection& gpu = {});

/// Removes from `upper` what plan_mount_points created (if still empty) and the copied-up
/// parents that only held them. Never throws.
void remove_mount_points(const std::filesystem::path& upper,
                         const std::vector<std::filesystem::path>& lowers,
                         const std::vector<std::string>& created) noexcept;

}  // namespace strata::builder::sandbox::detail
