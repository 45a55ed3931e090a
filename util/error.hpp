// Error handling for all of strata.
//
// strata reports failures with exceptions of one type, strata::util::Error, that carry a
// kind. Library code throws; the CLI catches at the command boundary and maps the kind to
// a documented exit code (docs/cli.md), the registry maps it to a distribution-spec error
// code and HTTP status. Messages say what failed, on which object (file:line:col, digest,
// package, URL) and, where it helps, what to do.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace strata::util {

enum class ErrorKind : std::uint8_t {
  InvalidInput,  // a recipe, reference, manifest, layer or argument is wrong
  NotFound,      // a file, blob, tag, image or package does not exist
  Corruption,    // a digest or size did not match what was promised
  Unauthorized,  // credentials missing or refused
  Conflict,      // the object exists in another state, or two requests collided
  IO,            // the operating system refused (disk full, permission, ...)
  Timeout,       // a retryable failure: network timeout, busy database
  Unsupported,   // valid input that this version of strata cannot handle
  Internal,      // a bug in strata
};

/// Short stable name of a kind ("invalid-input", "not-found", ...), used in --json output.
std::string_view kind_name(ErrorKind kind) noexcept;

/// Process exit code for a kind; see docs/cli.md ("Exit codes").
int exit_code(ErrorKind kind) noexcept;

/// The one exception type of strata. Immutable; safe to copy across threads.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), m_kind(kind) {}
  [[nodiscard]] ErrorKind kind() const noexcept { return m_kind; }

 private:
  ErrorKind m_kind;
};

/// Throws Error(kind, message).
[[noreturn]] void fail(ErrorKind kind, const std::string& message);

/// Throws an IO error "<what>: <strerror(errno)>" (ErrorKind::IO, or NotFound for ENOENT).
[[noreturn]] void fail_errno(const std::string& what);

/// Same with an explicit errno value.
[[noreturn]] void fail_errno(const std::string& what, int err);

}  // namespace strata::util
