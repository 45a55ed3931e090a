// Can this machine execute a Debian architecture's programs? Decides whether the maintainer
// scripts and `run` steps of an image of that architecture can run in the sandbox.
//
// Natively: the host's own architecture (from uname), and i386 on amd64. Emulated: a
// binfmt_misc handler named qemu-<cpu> (as Debian's qemu-user-static / qemu-user-binfmt
// register them) that is enabled and has the F ("fix binary") flag: the kernel opened the
// interpreter when it was registered, so it works inside the sandbox's root filesystem,
// where the interpreter's path does not exist. Anything else cannot execute: a foreign image
// is then built extract-only (docs/debian-install.md).
#pragma once

#include <filesystem>
#include <string>

#include "oci/image.hpp"

namespace strata::builder {

/// How a Debian architecture's binaries run here.
enum class ArchExecution { Native, Emulated, Impossible };

/// The answer with its reason, for messages ("native", "qemu-aarch64 via binfmt_misc",
/// "no binfmt_misc handler qemu-aarch64: install qemu-user-static").
struct ArchSupport {
  ArchExecution execution = ArchExecution::Impossible;
  std::string detail;
};

/// Where binfmt_misc is mounted: $STRATA_BINFMT_MISC, else /proc/sys/fs/binfmt_misc.
std::filesystem::path binfmt_misc_dir();

/// The Debian architecture of this machine (amd64, arm64, ...), from uname(2); "" when
/// unknown.
std::string host_debian_arch();

/// Whether binaries of Debian architecture `arch` run here. `binfmt_dir` is where
/// binfmt_misc is mounted. `arch` "all" is Native. Never throws.
ArchSupport arch_support(const std::string& arch,
                         const std::filesystem::path& binfmt_dir = "/proc/sys/fs/binfmt_misc",
                         const std::string& host_arch = host_debian_arch());

/// The OCI platform (linux/GOARCH[/variant]) of images of Debian architecture `arch`:
/// amd64, 386 (i386), arm64/v8, arm/v7 (armhf), arm/v5 (armel), ppc64le (ppc64el), s390x,
/// riscv64, mips64le (mips64el), loong64; another name is used as it is.
oci::Platform oci_platform_for(const std::string& arch);

}  // namespace strata::builder
