// The parent side of the sandbox: prepare the plan, clone the child into new namespaces,
// write its uid/gid maps (rootless), release it, then pump its output until end-of-file,
// enforcing the timeout by killing its pid 1 (which makes the kernel kill the whole pid
// namespace), and turn the outcome into a result or an Error.
#include "builder/sandbox/sandbox.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "builder/sandbox/child.hpp"
#include "builder/sandbox/mount_points.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace strata::builder::sandbox {
namespace fs = std::filesystem;
using detail::ChildPlan;
using detail::ChildReport;

namespace {

constexpr std::size_t k_output_cap = 8U << 20U;
constexpr const char* k_default_path =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Pipe {
  util::Fd read;
  util::Fd write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    util::fail_errno("sandbox: pipe");
  }
  return {util::Fd(fds[0]), util::Fd(fds[1])};
}

bool rootless() { return ::geteuid() != 0; }

unsigned long namespace_flags(bool user_namespace, bool network) {
  unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
  if (user_namespace) {
    flags |= CLONE_NEWUSER;
  }
  if (!network) {
    flags |= CLONE_NEWNET;
  }
  return flags;
}

std::string quote_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) {
      out += ' ';
    }
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789-_./=:,+@%") == std::string::npos;
    if (plain) {
      out += arg;
      continue;
    }
    out += '\'';
    for (const char c : arg) {
      out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    out += '\'';
  }
  return out;
}

std::string tail(const std::string& output, std::size_t lines) {
  std::size_t end = output.size();
  while (end > 0 && output[end - 1] == '\n') {
    --end;
  }
  std::size_t start = end;
  std::size_t count = 0;
  while (start > 0 && count < lines) {
    const std::size_t nl = output.rfind('\n', start - 1);
    start = nl == std::string::npos ? 0 : nl;
    ++count;
    if (nl == std::string::npos) {
      break;
    }
  }
  if (start < end && output[start] == '\n') {
    ++start;
  }
  return output.substr(start, end - start);
}

std::string no_namespaces_hint(int err) {
  std::string hint = "cannot create the sandbox's namespaces: " + std::string(std::strerror(err));
  if (rootless()) {
    hint +=
        ". Rootless builds need unprivileged user namespaces: check the sysctls "
        "user.max_user_namespaces (> 0) and kernel.unprivileged_userns_clone (= 1, where it "
        "exists) and, on Ubuntu, kernel.apparmor_restrict_unprivileged_userns (= 0); or run "
        "strata as root";
  }
  return hint;
}

void write_proc_file(pid_t pid, const char* name, const std::string& content) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  util::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), content.data(), content.size()) !=
                 static_cast<ssize_t>(content.size())) {
    util::fail(util::ErrorKind::Unsupported,
               "sandbox: cannot write " + path + " (\"" + content.substr(0, content.size() - 1) +
                   "\"): " + std::strerror(errno) + "; the kernel refuses the user namespace map");
  }
}

// Kills and reaps the child unless it was reaped already.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : m_pid(pid) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (m_pid > 0) {
      kill();
      static_cast<void>(wait());
    }
  }
  void kill() const noexcept { ::kill(m_pid, SIGKILL); }
  int wait() {
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0) {
      if (errno != EINTR) {
        util::fail_errno("sandbox: waitpid");
      }
    }
    m_pid = -1;
    return status;
  }
  [[nodiscard]] pid_t pid() const noexcept { return m_pid; }

 private:
  pid_t m_pid;
};

void build_command(const RunOptions& options, ChildPlan& plan) {
  plan.argv_storage = options.argv;
  plan.env_storage = options.env;
  std::string path_value;
  bool has_path = false;
  for (const std::string& e : plan.env_storage) {
    if (e.rfind("PATH=", 0) == 0) {
      has_path = true;
      path_value = e.substr(5);
    }
  }
  if (!has_path) {
    plan.env_storage.emplace_back(k_default_path);
    path_value = std::string(k_default_path).substr(5);
  }
  for (std::string& a : plan.argv_storage) {
    plan.argv.push_back(a.data());
  }
  plan.argv.push_back(nullptr);
  for (std::string& e : plan.env_storage) {
    plan.envp.push_back(e.data());
  }
  plan.envp.push_back(nullptr);
  const std::string& name = options.argv.front();
  plan.command_name = name;
  if (name.find('/') != std::string::npos) {
    plan.exec_candidates.push_back(name);
    return;
  }
  std::size_t start = 0;
  while (start <= path_value.size()) {
    const std::size_t end = std::min(path_value.find(':', start), path_value.size());
    const std::string dir = path_value.substr(start, end - start);
    plan.exec_candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + name);
    start = end + 1;
  }
}

std::string overlay_path(const fs::path& path, const char* what) {
  const std::string s = fs::absolute(path).lexically_normal().string();
  if (s.find_first_of(":,\\") != std::string::npos) {
    util::fail(util::ErrorKind::InvalidInput,
               std::string("sandbox: the ") + what + " path " + s +
                   " contains ':', ',' or '\\', which overlayfs options cannot express; use "
                   "another directory");
  }
  return s;
}

void validate(const RunOptions& options, const fs::path& upper) {
  if (options.argv.empty() || options.argv.front().empty()) {
    util::fail(util::ErrorKind::InvalidInput, "sandbox: no command given");
  }
  if (options.workdir.empty() || options.workdir.front() != '/') {
    util::fail(util::ErrorKind::InvalidInput,
               "sandbox: the working directory '" + options.workdir + "' must be absolute");
  }
  if (options.hostname.empty() || options.hostname.size() > 64) {
    util::fail(util::ErrorKind::InvalidInput,
               "sandbox: the hostname '" + options.hostname + "' must have 1 to 64 characters");
  }
  if (rootless() && (options.uid != 0 || options.gid != 0)) {
    util::fail(util::ErrorKind::Unsupported,
               "sandbox: running as " + std::to_string(options.uid) + ":" +
                   std::to_string(options.gid) +
                   " needs strata to run as root; a rootless sandbox maps only the caller, as "
                   "0:0");
  }
  for (const fs::path& lower : options.lower_dirs) {
    if (!fs::is_directory(lower)) {
      util::fail(util::ErrorKind::NotFound,
                 "sandbox: the lower dir " + lower.string() + " is not a directory");
    }
  }
  std::error_code ec;
  if (!options.upper_exists &&
      fs::symlink_status(upper, ec).type() != fs::file_type::not_found) {
    util::fail(util::ErrorKind::Conflict,
               "sandbox: the upper dir " + upper.string() + " already exists; give a new path");
  }
  if (options.upper_exists && !fs::is_directory(upper, ec)) {
    util::fail(util::ErrorKind::InvalidInput,
               "sandbox: the upper dir " + upper.string() + " is not an existing directory");
  }
}

// Reads the child's output until end-of-file, killing it at the deadline.
struct Supervised {
  std::string output;
  bool timed_out = false;
};

Supervised supervise(const RunOptions& options, ChildProcess& child, const util::Fd& output) {
  using Clock = std::chrono::steady_clock;
  Supervised result;
  const bool limited = options.timeout_seconds > 0;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(limited ? options.timeout_seconds : 0));
  char buffer[65536];
  for (;;) {
    int wait_ms = -1;
    if (limited && !result.timed_out) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        child.kill();
        result.timed_out = true;
      } else {
        wait_ms = static_cast<int>(std::min<long long>(left.count(), 60'000));
      }
    }
    pollfd pfd{output.get(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      util::fail_errno("sandbox: poll");
    }
    if (ready == 0) {
      continue;
    }
    const ssize_t n = ::read(output.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      util::fail_errno("sandbox: read the command's output");
    }
    if (n == 0) {
      return result;
    }
    const std::string_view chunk(buffer, static_cast<std::size_t>(n));
    if (options.on_output) {
      options.on_output(chunk);
    }
    result.output.append(chunk);
    if (result.output.size() > 2 * k_output_cap) {
      result.output.erase(0, result.output.size() - k_output_cap);
    }
  }
}

std::string describe_status(int status, bool timed_out, double timeout) {
  if (timed_out) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", timeout);
    return std::string("timed out after ") + buf + " s and was killed";
  }
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return "was killed by signal " + std::to_string(WTERMSIG(status)) +
           (name != nullptr ? std::string(" (SIG") + name + ")" : std::string());
  }
  return "ended with wait status " + std::to_string(status);
}

// Removes a directory tree on scope exit unless released.
class TreeGuard {
 public:
  explicit TreeGuard(fs::path path) : m_path(std::move(path)) {}
  TreeGuard(const TreeGuard&) = delete;
  TreeGuard& operator=(const TreeGuard&) = delete;
  ~TreeGuard() {
    if (!m_path.empty()) {
      util::remove_tree(m_path);
    }
  }
  void release() noexcept { m_path.clear(); }

 private:
  fs::path m_path;
};

}  // namespace

RunResult run(const RunOptions& options, const fs::path& upper) {
  validate(options, upper);
  const bool user_namespace = rootless();
  const fs::path upper_abs = fs::absolute(upper).lexically_normal();
  if (!options.upper_exists && ::mkdir(upper_abs.c_str(), 0755) != 0) {
    util::fail_errno("sandbox: create the upper dir " + upper_abs.string());
  }
  TreeGuard upper_guard(options.upper_exists ? fs::path() : upper_abs);
  util::TempDir scratch("strata-sandbox", upper_abs.parent_path());
  const fs::path work = scratch.path() / "work";
  const fs::path merged = scratch.path() / "merged";
  fs::create_directory(work);
  fs::create_directory(merged);

  std::vector<fs::path> lowers;
  std::string lowerdir;
  for (const fs::path& lower : options.lower_dirs) {
    lowers.push_back(fs::absolute(lower).lexically_normal());
    lowerdir += (lowerdir.empty() ? "" : ":") + overlay_path(lower, "lower dir");
  }
  if (lowers.empty()) {
    const fs::path empty = scratch.path() / "empty";
    fs::create_directory(empty);
    lowerdir = overlay_path(empty, "scratch");
  }

  ChildPlan plan;
  plan.user_namespace = user_namespace;
  plan.new_network = !options.network;
  plan.merged = merged.string();
  plan.overlay_options = "lowerdir=" + lowerdir + ",upperdir=" + overlay_path(upper_abs, "upper dir") +
                         ",workdir=" + overlay_path(work, "scratch");
  if (user_namespace) {
    plan.overlay_options += ",userxattr";
  }
  if (plan.overlay_options.size() >= 4000) {
    util::fail(util::ErrorKind::Unsupported,
               "sandbox: the overlayfs options for " + std::to_string(lowers.size()) +
                   " lower dirs exceed the kernel's one-page limit; use shorter paths or fewer "
                   "layers");
  }
  // Mount points are looked up in the merged view: an existing upper dir is its top.
  std::vector<fs::path> view = lowers;
  if (options.upper_exists) {
    view.insert(view.begin(), upper_abs);
  }
  const std::vector<std::string> created =
      detail::plan_mount_points(view, options.network, plan, options.gpus);
  plan.hostname = options.hostname;
  plan.uid = options.uid;
  plan.ignore_sync = options.ignore_sync;
  plan.gid = options.gid;
  plan.workdir = options.workdir;
  build_command(options, plan);

  Pipe sync = make_pipe();
  Pipe error = make_pipe();
  Pipe output = make_pipe();
  plan.sync_read = sync.read.get();
  plan.sync_write = sync.write.get();
  plan.error_read = error.read.get();
  plan.error_write = error.write.get();
  plan.output_read = output.read.get();
  plan.output_write = output.write.get();

  const pid_t pid = detail::clone_process(namespace_flags(user_namespace, options.network));
  if (pid < 0) {
    util::fail(util::ErrorKind::Unsupported, "sandbox: " + no_namespaces_hint(errno));
  }
  if (pid == 0) {
    detail::child_main(plan);
  }
  ChildProcess child(pid);
  sync.read.reset();
  error.write.reset();
  output.write.reset();
  if (user_namespace) {
    write_proc_file(pid, "setgroups", "deny\n");
    write_proc_file(pid, "uid_map", "0 " + std::to_string(::geteuid()) + " 1\n");
    write_proc_file(pid, "gid_map", "0 " + std::to_string(::getegid()) + " 1\n");
  }
  const char go = 1;
  if (::write(sync.write.get(), &go, 1) != 1) {
    util::fail_errno("sandbox: release the child");
  }
  sync.write.reset();

  Supervised supervised = supervise(options, child, output.read);
  const int status = child.wait();

  ChildReport report;
  const ssize_t got = ::read(error.read.get(), &report, sizeof report);
  if (got == static_cast<ssize_t>(sizeof report)) {
    report.what[sizeof report.what - 1] = '\0';
    const std::string reason = std::string(report.what) + ": " + std::strerror(report.error);
    switch (report.failure) {
      case detail::ChildFailure::Unsupported:
        util::fail(util::ErrorKind::Unsupported,
                   "sandbox: cannot " + reason +
                       (user_namespace
                            ? " (rootless overlayfs needs Linux 5.11 or later and an upper dir "
                              "on a filesystem with user xattrs)"
                            : std::string()));
      case detail::ChildFailure::Usage:
        util::fail(util::ErrorKind::InvalidInput,
                   "sandbox: command [" + quote_command(options.argv) + "]: cannot " + reason);
      case detail::ChildFailure::System:
        break;
    }
    util::fail(util::ErrorKind::IO, "sandbox: cannot " + reason);
  }
  const bool ok = !supervised.timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) {
    const std::string last = tail(supervised.output, options.tail_lines);
    util::fail(util::ErrorKind::InvalidInput,
               "sandbox: command [" + quote_command(options.argv) + "] " +
                   describe_status(status, supervised.timed_out, options.timeout_seconds) +
                   (last.empty() ? std::string("; it printed nothing")
                                 : "; last " + std::to_string(options.tail_lines) +
                                       " lines of its output:\n" + last));
  }
  detail::remove_mount_points(upper_abs, lowers, created);
  upper_guard.release();
  return RunResult{std::move(supervised.output), user_namespace};
}

std::string unavailable_reason() {
  const pid_t pid = detail::clone_process(namespace_flags(rootless(), false));
  if (pid < 0) {
    return no_namespaces_hint(errno);
  }
  if (pid == 0) {
    ::_exit(0);
  }
  ChildProcess child(pid);
  const int status = child.wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "a test child in new namespaces ended with wait status " + std::to_string(status);
  }
  return {};
}

}  // namespace strata::builder::sandbox
