// A seccomp filter that turns the sync family of system calls into successful no-ops.
//
// A build step's writes land in an overlay upper dir that strata packs into a layer blob
// and then deletes; the blob is what strata makes durable (written, fsynced and renamed by
// the store). Durability inside the sandbox therefore buys nothing, yet dpkg fsyncs its
// database after every package state change and many tools fsync what they write. With the
// filter, fsync, fdatasync, sync, syncfs, sync_file_range and msync return 0 without doing
// anything (SECCOMP_RET_ERRNO with errno 0 makes the kernel skip the call and return 0).
// Data still reaches the page cache and the upper dir's files exactly as before; only the
// waits for the disk go away. Used for build steps only (RunOptions::ignore_sync), never
// for `strata run`, where a user's program may rely on fsync.
#pragma once

namespace strata::builder::sandbox::detail {

/// Installs the filter on the calling thread (inherited by its children and kept across
/// execve). Must run while the process still has CAP_SYS_ADMIN in its user namespace (before
/// dropping to the command's uid), as it does not set no_new_privs. Allocates nothing
/// (safe between clone and execve). Returns 0, or the errno when the kernel refuses or the
/// architecture is not one the filter knows (then nothing is installed and the sync calls
/// behave normally). Thread-safe.
int install_ignore_sync_filter() noexcept;

}  // namespace strata::builder::sandbox::detail
