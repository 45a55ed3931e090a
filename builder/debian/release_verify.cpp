// InRelease signature checking with gpgv.
//
// gpgv runs as a child process (fork + execv, no shell) with its machine-readable status
// lines on a pipe at fd 3, its human messages in a temporary file, and --output naming a
// temporary file that receives the signed content. The verdict comes from the status
// lines, as apt's gpgv method does: at least one GOODSIG with its VALIDSIG and no BADSIG
// means trusted (other signatures by keys we do not hold are fine: Debian signs with
// several keys). Only the --output content is returned, so text outside the signed block
// of a tampered file can never reach the parser.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "builder/debian/release.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace strata::builder::debian {
namespace {

constexpr int k_status_fd = 3;

// Finds `program` in PATH (or takes it as is when it has a '/').
std::string find_program(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    return ::access(program.c_str(), X_OK) == 0 ? program : std::string();
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) {
      return {};
    }
    dirs.remove_prefix(colon + 1);
  }
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return out;
    }
  }
}

struct Pipe {
  util::Fd read;
  util::Fd write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    util::fail_errno("cannot create a pipe for gpgv");
  }
  return {util::Fd(fds[0]), util::Fd(fds[1])};
}

struct GpgvResult {
  int exit_status = -1;  // exit code, or -1 when killed by a signal
  std::string status;    // the --status-fd lines
  std::string messages;  // stderr
};

// Runs argv[0] (an absolute path) with the status pipe at fd 3 and stderr into a file.
GpgvResult run_gpgv(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<char*> argv;
  for (const std::string& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  Pipe status = make_pipe();
  Pipe exec_error = make_pipe();  // reports a failed execv to the parent
  util::Fd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  util::Fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!log_fd || !null_fd) {
    util::fail_errno("cannot prepare gpgv's standard streams");
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    util::fail_errno("cannot start gpgv");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    int sfd = status.write.get();
    if (sfd == k_status_fd) {
      ::fcntl(sfd, F_SETFD, 0);
    } else if (::dup2(sfd, k_status_fd) < 0) {
      ::_exit(126);
    }
    if (::dup2(null_fd.get(), 0) < 0 || ::dup2(log_fd.get(), 1) < 0 ||
        ::dup2(log_fd.get(), 2) < 0) {
      ::_exit(126);
    }
    ::execv(argv[0], argv.data());
    const int err = errno;
    (void)!::write(exec_error.write.get(), &err, sizeof err);
    ::_exit(127);
  }
  status.write.reset();
  exec_error.write.reset();
  GpgvResult result;
  result.status = read_all(status.read.get());
  const std::string exec_err = read_all(exec_error.read.get());
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) {
      util::fail_errno("cannot wait for gpgv");
    }
  }
  if (exec_err.size() == sizeof(int)) {
    int err = 0;
    std::memcpy(&err, exec_err.data(), sizeof err);
    util::fail_errno("cannot run " + args[0], err);
  }
  result.exit_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  result.messages = util::read_file(log);
  return result;
}

// The parsed status lines that matter for the verdict.
struct Verdict {
  int good = 0;
  int valid = 0;
  std::vector<std::string> bad;          // "keyid uid"
  std::vector<std::string> expired_key;  // EXPKEYSIG
  std::vector<std::string> expired_sig;  // EXPSIG
  std::vector<std::string> revoked;      // REVKEYSIG
  std::set<std::string> unknown_keys;    // NO_PUBKEY / ERRSIG rc 9
  bool no_data = false;
  std::vector<std::string> errors;       // ERROR lines (e.g. bad data after the message)
};

Verdict parse_status(const std::string& text) {
  Verdict v;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      nl = text.size();
    }
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    constexpr std::string_view k_prefix = "[GNUPG:] ";
    if (line.substr(0, k_prefix.size()) != k_prefix) {
      continue;
    }
    line.remove_prefix(k_prefix.size());
    const auto sp = line.find(' ');
    const std::string_view keyword = line.substr(0, sp);
    const std::string args(sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1));
    if (keyword == "GOODSIG") {
      ++v.good;
    } else if (keyword == "VALIDSIG") {
      ++v.valid;
    } else if (keyword == "BADSIG") {
      v.bad.push_back(args);
    } else if (keyword == "EXPKEYSIG") {
      v.expired_key.push_back(args);
    } else if (keyword == "EXPSIG") {
      v.expired_sig.push_back(args);
    } else if (keyword == "REVKEYSIG") {
      v.revoked.push_back(args);
    } else if (keyword == "NO_PUBKEY") {
      v.unknown_keys.insert(args);
    } else if (keyword == "ERRSIG") {
      // ERRSIG <keyid> <pkalgo> <hashalgo> <class> <time> <rc> [<fpr>]; rc 9 = no key.
      std::vector<std::string_view> f;
      std::string_view rest = args;
      while (!rest.empty()) {
        const auto s = rest.find(' ');
        f.push_back(rest.substr(0, s));
        rest = s == std::string_view::npos ? std::string_view{} : rest.substr(s + 1);
      }
      if (f.size() >= 6 && f[5] == "9") {
        v.unknown_keys.insert(std::string(f[0]));
      }
    } else if (keyword == "NODATA") {
      v.no_data = true;
    } else if (keyword == "ERROR") {
      v.errors.push_back(args);
    }
  }
  return v;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    out += (out.empty() ? "" : "; ") + s;
  }
  return out;
}

std::string keyring_list(const GpgvOptions& options) {
  std::string out;
  for (const auto& k : options.keyrings) {
    out += (out.empty() ? "" : ", ") + k.string();
  }
  return out;
}

[[noreturn]] void fail_format(std::string_view url, const char* why) {
  util::fail(util::ErrorKind::InvalidInput,
             std::string(url) + ": not a clearsigned OpenPGP message: " + why);
}

[[noreturn]] void untrusted(std::string_view url, const std::string& what) {
  util::fail(util::ErrorKind::Unauthorized, std::string(url) + ": " + what);
}

// An InRelease must hold exactly one clearsigned message. gpgv would verify a file with
// two concatenated messages piece by piece, so a good signature on the first must not
// vouch for a second one appended by someone else (the attack apt guards against too).
void check_single_message(const std::string& text, std::string_view url) {
  std::size_t messages = 0;
  std::size_t signatures = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      nl = text.size();
    }
    std::string_view line(text.data() + pos, nl - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    messages += line == "-----BEGIN PGP SIGNED MESSAGE-----" ? 1 : 0;
    signatures += line == "-----BEGIN PGP SIGNATURE-----" ? 1 : 0;
    pos = nl + 1;
  }
  if (messages == 0) {
    untrusted(url, "not signed: no clearsigned OpenPGP message in the file");
  }
  if (messages != 1 || signatures != 1) {
    untrusted(url, "holds " + std::to_string(messages) + " signed messages and " +
                       std::to_string(signatures) +
                       " signature blocks; an InRelease must hold exactly one of each");
  }
}

}  // namespace

std::string verify_inrelease(const std::filesystem::path& inrelease, const GpgvOptions& options,
                             std::string_view url) {
  if (options.keyrings.empty()) {
    util::fail(util::ErrorKind::InvalidInput,
               std::string(url) + ": no keyring to verify InRelease against; name the "
               "archive's keyring (e.g. Signed-By in the apt sources)");
  }
  for (const auto& k : options.keyrings) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(k, ec)) {
      util::fail(util::ErrorKind::NotFound,
                 "keyring " + k.string() + " does not exist (needed to verify " +
                     std::string(url) + ")");
    }
  }
  if (!std::filesystem::exists(inrelease)) {
    util::fail(util::ErrorKind::NotFound,
               std::string(url) + ": " + inrelease.string() + " does not exist");
  }
  check_single_message(util::read_file(inrelease), url);
  const std::string program = find_program(options.program);
  if (program.empty()) {
    util::fail(util::ErrorKind::NotFound,
               "cannot find '" + options.program + "' to verify " + std::string(url) +
                   "; install the gpgv package");
  }
  util::TempDir tmp("strata-gpgv");
  const std::filesystem::path home = tmp.path() / "home";
  const std::filesystem::path out = tmp.path() / "content";
  std::filesystem::create_directory(home);
  std::filesystem::permissions(home, std::filesystem::perms::owner_all);
  std::vector<std::string> args = {program, "--homedir", home.string(), "--status-fd",
                                   std::to_string(k_status_fd), "--output", out.string()};
  for (const auto& k : options.keyrings) {
    args.push_back("--keyring");
    args.push_back(std::filesystem::absolute(k).string());
  }
  args.push_back("--");
  args.push_back(std::filesystem::absolute(inrelease).string());
  const GpgvResult result = run_gpgv(args, tmp.path() / "messages");
  const Verdict v = parse_status(result.status);

  if (!v.bad.empty()) {
    untrusted(url, "bad signature (" + join(v.bad) +
                       "): InRelease was modified after signing or damaged in transit; do not "
                       "use this mirror until it serves the archive's signed file");
  }
  // A non-zero exit status is fine only when it comes from signatures by keys we do not
  // hold next to a good one (Debian signs with several keys).
  const bool clean_exit = result.exit_status == 0 || (!v.unknown_keys.empty() && v.errors.empty());
  if (v.good > 0 && v.valid > 0 && clean_exit) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(out, ec)) {
      util::fail(util::ErrorKind::Internal,
                 std::string(url) + ": gpgv reported a good signature but wrote no content");
    }
    return util::read_file(out);
  }
  if (!v.expired_key.empty() || !v.expired_sig.empty()) {
    untrusted(url, "signed with an expired key or an expired signature (" +
                       join(v.expired_key.empty() ? v.expired_sig : v.expired_key) +
                       "); update the archive keyring");
  }
  if (!v.revoked.empty()) {
    untrusted(url, "signed with a revoked key (" + join(v.revoked) + ")");
  }
  if (!v.unknown_keys.empty()) {
    untrusted(url, "signed by unknown key " +
                       join(std::vector<std::string>(v.unknown_keys.begin(), v.unknown_keys.end())) +
                       ", which is not in the keyring (" + keyring_list(options) +
                       "); use the archive's keyring (Signed-By) or add its key");
  }
  if (v.no_data) {
    untrusted(url, "not signed: no OpenPGP signature found in " + inrelease.string());
  }
  std::string tail = result.messages.substr(
      result.messages.size() > 600 ? result.messages.size() - 600 : 0);
  untrusted(url, "gpgv could not verify the signature (exit status " +
                     std::to_string(result.exit_status) + "): " + tail);
}

std::string clearsigned_content_unverified(std::string_view text, std::string_view url) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  std::size_t i = 0;
  while (i < lines.size() && lines[i] != "-----BEGIN PGP SIGNED MESSAGE-----") {
    ++i;
  }
  if (i == lines.size()) {
    fail_format(url, "no '-----BEGIN PGP SIGNED MESSAGE-----' line");
  }
  ++i;
  while (i < lines.size() && !lines[i].empty()) {  // armor headers ("Hash: SHA512")
    ++i;
  }
  ++i;
  std::string out;
  for (; i < lines.size(); ++i) {
    if (lines[i] == "-----BEGIN PGP SIGNATURE-----") {
      return out;
    }
    std::string_view line = lines[i];
    if (line.substr(0, 2) == "- ") {
      line.remove_prefix(2);  // dash-escaping (RFC 4880 section 7.1)
    }
    out.append(line);
    out += '\n';
  }
  fail_format(url, "no '-----BEGIN PGP SIGNATURE-----' line");
}

}  // namespace strata::builder::debian
