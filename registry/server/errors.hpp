// Registry API errors: the distribution-spec error codes, their HTTP statuses and the JSON
// body {"errors":[{"code","message","detail"}]}.
//
// Handlers throw ApiError; the router catches it (and util::Error, mapped by kind) at the
// request boundary and writes the JSON body. A malformed digest, name or reference is
// always a 4xx, never a 500.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/error.hpp"

namespace strata::registry {

/// distribution-spec v1.1 error codes (code-1 .. code-14).
enum class ErrorCode {
  BlobUnknown,
  BlobUploadInvalid,
  BlobUploadUnknown,
  DigestInvalid,
  ManifestBlobUnknown,
  ManifestInvalid,
  ManifestUnknown,
  NameInvalid,
  NameUnknown,
  SizeInvalid,
  Unauthorized,
  Denied,
  Unsupported,
  TooManyRequests,
};

/// The wire name of a code ("BLOB_UNKNOWN", ...).
std::string_view code_name(ErrorCode code) noexcept;

/// An error response: HTTP status, spec code, human message, optional JSON detail and extra
/// response headers (e.g. Range and Location on a 416 of an upload). Immutable value.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, ErrorCode code, const std::string& message,
           nlohmann::json detail = nullptr)
      : std::runtime_error(message), m_status(status), m_code(code), m_detail(std::move(detail)) {}

  /// Adds a header to send with the error; returns *this for chaining.
  ApiError& with_header(std::string name, std::string value) {
    m_headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }

  [[nodiscard]] int status() const noexcept { return m_status; }
  [[nodiscard]] ErrorCode code() const noexcept { return m_code; }
  [[nodiscard]] const nlohmann::json& detail() const noexcept { return m_detail; }
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& headers() const noexcept {
    return m_headers;
  }

 private:
  int m_status;
  ErrorCode m_code;
  nlohmann::json m_detail;
  std::vector<std::pair<std::string, std::string>> m_headers;
};

/// The JSON body of one error.
std::string error_body(ErrorCode code, std::string_view message,
                       const nlohmann::json& detail = nullptr);

/// Maps a library error to a status and code when a handler did not say more precisely:
/// InvalidInput -> 400 (with `fallback` code), NotFound -> 404 (fallback), Corruption -> 400
/// DIGEST_INVALID, Unauthorized -> 401, Conflict -> 409, Timeout -> 503 TOOMANYREQUESTS,
/// Unsupported -> 400 UNSUPPORTED, IO/Internal -> 500.
std::pair<int, ErrorCode> map_error(util::ErrorKind kind, ErrorCode fallback) noexcept;

}  // namespace strata::registry
