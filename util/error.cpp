#include "util/error.hpp"

#include <cerrno>
#include <cstring>

namespace strata::util {

std::string_view kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::InvalidInput: return "invalid-input";
    case ErrorKind::NotFound: return "not-found";
    case ErrorKind::Corruption: return "corruption";
    case ErrorKind::Unauthorized: return "unauthorized";
    case ErrorKind::Conflict: return "conflict";
    case ErrorKind::IO: return "io";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

int exit_code(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::InvalidInput: return 3;
    case ErrorKind::NotFound: return 4;
    case ErrorKind::Corruption: return 5;
    case ErrorKind::Unauthorized: return 6;
    case ErrorKind::Conflict: return 7;
    case ErrorKind::IO: return 8;
    case ErrorKind::Timeout: return 9;
    case ErrorKind::Unsupported: return 10;
    case ErrorKind::Internal: return 70;
  }
  return 70;
}

void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

void fail_errno(const std::string& what) { fail_errno(what, errno); }

void fail_errno(const std::string& what, int err) {
  const ErrorKind kind = err == ENOENT ? ErrorKind::NotFound : ErrorKind::IO;
  throw Error(kind, what + ": " + std::strerror(err));
}

}  // namespace strata::util
