// Internal to the sandbox: the plan the parent prepares and the code the cloned child runs.
//
// The child is created with a raw clone() from a process that may have other threads, so
// it must not allocate or take locks: everything it needs (paths, argv, envp, mount option
// strings) is computed by the parent into a ChildPlan before the clone, and the child only
// reads it and makes system calls. A setup failure is written to the error pipe as a
// ChildReport; a successful execve closes that pipe (O_CLOEXEC), so the parent reads either
// a report or end-of-file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace strata::builder::sandbox::detail {

/// Classifies a child failure so the parent can choose the error kind.
enum class ChildFailure : std::int32_t { System = 1, Unsupported = 2, Usage = 3 };

/// Fixed-size message the child writes to the error pipe on failure.
struct ChildReport {
  std::int32_t error = 0;  // errno
  ChildFailure failure = ChildFailure::System;
  char what[480] = {};
};

/// A path to create under the merged root before mounting on it.
struct CreatePath {
  std::string path;  // host path under the merged dir
  bool directory = true;
};

/// A bind mount of a host path onto a path inside the merged root.
struct Bind {
  std::string source;
  std::string target;
  bool read_only = false;
  bool create_file = false;  // create an empty file as mount point first
  bool create_directory = false;  // create a directory as mount point first
};

/// A symbolic link to create.
struct Link {
  std::string target;
  std::string path;
};

/// Everything the child does, precomputed. The vectors of char* point into the strings of
/// this plan (argv, envp), which must stay alive and unchanged until the child has exec'd.
struct ChildPlan {
  bool user_namespace = false;
  bool new_network = false;
  std::string merged;
  std::string overlay_options;
  std::vector<CreatePath> create;  // parents first
  std::string proc;
  std::string dev;
  std::string dev_pts;
  std::string dev_shm;
  std::string tmp;
  std::string sys;  // empty: do not mount /sys
  std::vector<Bind> dev_binds;
  std::vector<Link> dev_links;
  std::vector<Bind> etc_binds;
  // --gpus: a tmpfs at gpu_dir holding gpu_subdirs, the driver's files bound read-only into
  // them and the library links; then the tmpfs is made read-only. Empty gpu_dir: no GPU.
  std::string gpu_dir;
  std::vector<std::string> gpu_subdirs;
  std::vector<Bind> gpu_binds;
  std::vector<Link> gpu_links;
  std::string hostname;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string workdir;
  std::vector<std::string> exec_candidates;
  std::string command_name;
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;  // null-terminated
  std::vector<char*> envp;  // null-terminated
  int sync_read = -1;
  int sync_write = -1;
  int error_read = -1;
  int error_write = -1;
  int output_read = -1;
  int output_write = -1;
  bool ignore_sync = false;  // install the seccomp filter of seccomp.hpp before exec
};

/// Runs in the cloned child: waits for the parent's go, builds the root filesystem, enters
/// it and execs the command. Never returns; on failure reports to plan.error_write and exits.
[[noreturn]] void child_main(const ChildPlan& plan) noexcept;

/// Clones a child into new namespaces (flags are CLONE_NEW*) like fork(). Returns the pid in
/// the parent, 0 in the child, -1 with errno on failure.
pid_t clone_process(unsigned long flags) noexcept;

}  // namespace strata::builder::sandbox::detail
