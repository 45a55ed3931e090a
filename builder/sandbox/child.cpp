// The sandbox child: runs between clone() and execve() and builds the command's world.
//
// Order matters: (1) wait for the parent, which writes the uid/gid maps of a new user
// namespace; (2) make every mount private so nothing leaks to the host; (3) mount the overlay
// on the merged dir and create the missing mount points in it; (4) mount /proc (this process
// is pid 1 of the new pid namespace), a tmpfs /dev with the host's harmless devices bound in,
// /dev/pts, /dev/shm, with --gpus the host's NVIDIA device nodes and a read-only tmpfs holding
// its driver files (gpu.hpp), a tmpfs /tmp, a read-only /sys when the kernel allows, and with network
// on, the host's /etc/resolv.conf and /etc/hosts read-only; (5) pivot_root into the merged dir
// and detach the old root (chroot when pivot_root is refused); (6) set the hostname, bring up
// lo in a new network namespace, drop to uid:gid, chdir to the workdir, wire stdio and exec.
// No allocation happens here (see child.hpp).
#include "builder/sandbox/child.hpp"
#include "builder/sandbox/seccomp.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>  // the ST_* flag values
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <grp.h>

namespace strata::builder::sandbox::detail {
namespace {

void append(char* buf, std::size_t cap, std::size_t& len, const char* s) noexcept {
  while (s != nullptr && *s != '\0' && len + 1 < cap) {
    buf[len++] = *s++;
  }
  buf[len] = '\0';
}

[[noreturn]] void die(const ChildPlan& plan, ChildFailure failure, const char* what,
                      const char* object = nullptr, int err = -1) noexcept {
  ChildReport report;
  report.error = err >= 0 ? err : errno;
  report.failure = failure;
  std::size_t len = 0;
  append(report.what, sizeof report.what, len, what);
  if (object != nullptr) {
    append(report.what, sizeof report.what, len, " ");
    append(report.what, sizeof report.what, len, object);
  }
  const ssize_t written = ::write(plan.error_write, &report, sizeof report);
  static_cast<void>(written);
  ::_exit(127);
}

void do_mount(const ChildPlan& plan, const char* source, const char* target, const char* type,
              unsigned long flags, const char* data, const char* what) noexcept {
  if (::mount(source, target, type, flags, data) != 0) {
    die(plan, ChildFailure::System, what, target);
  }
}

// Remounts a bind mount read-only, keeping the flags the kernel locks in a user namespace.
void remount_read_only(const ChildPlan& plan, const char* target) noexcept {
  // statfs, not statvfs: glibc's statvfs may read /proc/mounts (allocating) when the
  // kernel does not report the flags; statfs is a plain system call. Its f_flags use the
  // ST_* values.
  struct statfs st {};
  if (::statfs(target, &st) != 0) {
    die(plan, ChildFailure::System, "statfs", target);
  }
  const auto has = [&](long bit) { return (st.f_flags & bit) != 0; };
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
  if (has(ST_NOSUID)) flags |= MS_NOSUID;
  if (has(ST_NODEV)) flags |= MS_NODEV;
  if (has(ST_NOEXEC)) flags |= MS_NOEXEC;
  if (has(ST_NOATIME)) flags |= MS_NOATIME;
  if (has(ST_NODIRATIME)) flags |= MS_NODIRATIME;
  if (has(ST_RELATIME)) flags |= MS_RELATIME;
  do_mount(plan, nullptr, target, nullptr, flags, nullptr, "remount read-only");
}

void create_file(const ChildPlan& plan, const char* path) noexcept {
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    die(plan, ChildFailure::System, "create mount point", path);
  }
  ::close(fd);
}

void bind(const ChildPlan& plan, const Bind& b) noexcept {
  if (b.create_file) {
    create_file(plan, b.target.c_str());
  }
  if (b.create_directory && ::mkdir(b.target.c_str(), 0755) != 0 && errno != EEXIST) {
    die(plan, ChildFailure::System, "create mount point", b.target.c_str());
  }
  do_mount(plan, b.source.c_str(), b.target.c_str(), nullptr, MS_BIND, nullptr, "bind-mount onto");
  if (b.read_only) {
    remount_read_only(plan, b.target.c_str());
  }
}

void loopback_up(const ChildPlan& plan) noexcept {
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    die(plan, ChildFailure::System, "socket for bringing up lo");
  }
  struct ifreq req {};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock, SIOCGIFFLAGS, &req) != 0) {
    die(plan, ChildFailure::System, "SIOCGIFFLAGS on lo");
  }
  req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(sock, SIOCSIFFLAGS, &req) != 0) {
    die(plan, ChildFailure::System, "SIOCSIFFLAGS on lo");
  }
  ::close(sock);
}

// The host's NVIDIA driver files (see gpu.hpp): a small tmpfs, the files bound into it
// read-only, the library links, then the tmpfs itself made read-only.
void mount_gpu_driver(const ChildPlan& plan) noexcept {
  do_mount(plan, "tmpfs", plan.gpu_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1024k",
           "mount tmpfs on");
  for (const std::string& dir : plan.gpu_subdirs) {
    if (::mkdir(dir.c_str(), 0755) != 0) {
      die(plan, ChildFailure::System, "create", dir.c_str());
    }
  }
  for (const Bind& b : plan.gpu_binds) {
    bind(plan, b);
  }
  for (const Link& l : plan.gpu_links) {
    if (::symlink(l.target.c_str(), l.path.c_str()) != 0) {
      die(plan, ChildFailure::System, "create symlink", l.path.c_str());
    }
  }
  remount_read_only(plan, plan.gpu_dir.c_str());
}

void build_root(const ChildPlan& plan) noexcept {
  do_mount(plan, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr, "make mounts private:");
  if (::mount("overlay", plan.merged.c_str(), "overlay", 0, plan.overlay_options.c_str()) != 0) {
    die(plan, ChildFailure::Unsupported, "mount overlayfs with options", plan.overlay_options.c_str());
  }
  for (const CreatePath& c : plan.create) {
    if (c.directory) {
      if (::mkdir(c.path.c_str(), 0755) != 0 && errno != EEXIST) {
        die(plan, ChildFailure::System, "create mount point", c.path.c_str());
      }
    } else {
      create_file(plan, c.path.c_str());
    }
  }
  do_mount(plan, "proc", plan.proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr,
           "mount proc on");
  do_mount(plan, "tmpfs", plan.dev.c_str(), "tmpfs", MS_NOSUID | MS_STRICTATIME,
           "mode=755,size=65536k", "mount tmpfs on");
  for (const Bind& b : plan.dev_binds) {
    bind(plan, b);
  }
  for (const Link& l : plan.dev_links) {
    if (::symlink(l.target.c_str(), l.path.c_str()) != 0) {
      die(plan, ChildFailure::System, "create symlink", l.path.c_str());
    }
  }
  if (!plan.gpu_dir.empty()) {
    mount_gpu_driver(plan);
  }
  if (::mkdir(plan.dev_pts.c_str(), 0755) != 0 || ::mkdir(plan.dev_shm.c_str(), 01777) != 0) {
    die(plan, ChildFailure::System, "create /dev/pts and /dev/shm under", plan.dev.c_str());
  }
  // A private devpts instance is a convenience (script, expect); some kernels refuse it in a
  // user namespace, and a build step rarely needs a terminal, so failure is tolerated.
  static_cast<void>(::mount("devpts", plan.dev_pts.c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
                            "newinstance,ptmxmode=0666,mode=0620"));
  do_mount(plan, "shm", plan.dev_shm.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           "mode=1777", "mount tmpfs on");
  do_mount(plan, "tmpfs", plan.tmp.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777",
           "mount tmpfs on");
  if (!plan.sys.empty()) {
    // sysfs needs a network namespace of our own in a user namespace; without one /sys
    // stays an empty directory (documented).
    static_cast<void>(::mount("sysfs", plan.sys.c_str(), "sysfs",
                              MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  }
  for (const Bind& b : plan.etc_binds) {
    bind(plan, b);
  }
  if (::chdir(plan.merged.c_str()) != 0) {
    die(plan, ChildFailure::System, "chdir", plan.merged.c_str());
  }
  if (::syscall(SYS_pivot_root, ".", ".") == 0) {
    // The old root is now stacked on "/"; detach it so nothing of the host stays reachable.
    if (::umount2(".", MNT_DETACH) != 0) {
      die(plan, ChildFailure::System, "detach the old root after pivot_root into", plan.merged.c_str());
    }
  } else if (::chroot(".") != 0) {
    die(plan, ChildFailure::System, "pivot_root and chroot into", plan.merged.c_str());
  }
  if (::chdir("/") != 0) {
    die(plan, ChildFailure::System, "chdir to the new root");
  }
}

}  // namespace

pid_t clone_process(unsigned long flags) noexcept {
  // Only the first argument is non-zero, so the argument order that differs between
  // architectures does not matter; a null stack makes this behave like fork().
  return static_cast<pid_t>(::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr,
                                      nullptr));
}

void child_main(const ChildPlan& plan) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::close(plan.sync_write);
  ::close(plan.error_read);
  ::close(plan.output_read);
  char go = 0;
  ssize_t n = 0;
  do {
    n = ::read(plan.sync_read, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) {
    ::_exit(126);  // the parent gave up (and reports why)
  }
  ::close(plan.sync_read);

  build_root(plan);

  if (::sethostname(plan.hostname.c_str(), plan.hostname.size()) != 0) {
    die(plan, ChildFailure::System, "sethostname", plan.hostname.c_str());
  }
  if (plan.new_network) {
    loopback_up(plan);
  }
  if (plan.ignore_sync) {
    // Before dropping privileges: without no_new_privs the filter needs CAP_SYS_ADMIN. A
    // refusal only costs speed, so it is not an error.
    static_cast<void>(install_ignore_sync_filter());
  }
  // Raw system calls, not glibc's wrappers: in a process that has (had) other threads,
  // glibc's set*id() broadcast the change to every thread under its thread-list lock. This
  // child was made by a raw clone(), so it has one thread but inherits glibc's view of the
  // parent's threads, and the lock as it was: held by a thread that was starting or exiting
  // at that moment, it is never released here and the child hangs (seen with .debs
  // downloading on a background thread during a build). One thread: the raw call is enough.
  if (!plan.user_namespace && ::syscall(SYS_setgroups, 0, nullptr) != 0) {
    die(plan, ChildFailure::System, "setgroups");
  }
  if (::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) {
    die(plan, ChildFailure::System, "setgid");
  }
  if (::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
    die(plan, ChildFailure::System, "setuid");
  }
  if (::chdir(plan.workdir.c_str()) != 0) {
    die(plan, ChildFailure::Usage, "change to the working directory", plan.workdir.c_str());
  }

  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(plan.output_write, 1) < 0 ||
      ::dup2(plan.output_write, 2) < 0) {
    die(plan, ChildFailure::System, "set up stdin/stdout/stderr");
  }
  // Everything else closes at exec, the error pipe included: its end-of-file tells the
  // parent that execve succeeded.
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 1024; ++fd) {
      if (fd != plan.error_write) {
        ::close(fd);
      }
    }
  }
  // Signal dispositions set to "ignore" and the signal mask survive execve: reset them.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    ::signal(sig, SIG_DFL);
  }

  int err = ENOENT;
  for (const std::string& candidate : plan.exec_candidates) {
    ::execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
    if (errno != ENOENT && errno != ENOTDIR) {
      err = errno;
    }
  }
  die(plan, ChildFailure::Usage, "execute", plan.command_name.c_str(), err);
}

}  // namespace strata::builder::sandbox::detail
