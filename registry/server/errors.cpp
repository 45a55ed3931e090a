#include "registry/server/errors.hpp"

namespace strata::registry {

std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::BlobUnknown: return "BLOB_UNKNOWN";
    case ErrorCode::BlobUploadInvalid: return "BLOB_UPLOAD_INVALID";
    case ErrorCode::BlobUploadUnknown: return "BLOB_UPLOAD_UNKNOWN";
    case ErrorCode::DigestInvalid: return "DIGEST_INVALID";
    case ErrorCode::ManifestBlobUnknown: return "MANIFEST_BLOB_UNKNOWN";
    case ErrorCode::ManifestInvalid: return "MANIFEST_INVALID";
    case ErrorCode::ManifestUnknown: return "MANIFEST_UNKNOWN";
    case ErrorCode::NameInvalid: return "NAME_INVALID";
    case ErrorCode::NameUnknown: return "NAME_UNKNOWN";
    case ErrorCode::SizeInvalid: return "SIZE_INVALID";
    case ErrorCode::Unauthorized: return "UNAUTHORIZED";
    case ErrorCode::Denied: return "DENIED";
    case ErrorCode::Unsupported: return "UNSUPPORTED";
    case ErrorCode::TooManyRequests: return "TOOMANYREQUESTS";
  }
  return "UNSUPPORTED";
}

std::string error_body(ErrorCode code, std::string_view message, const nlohmann::json& detail) {
  nlohmann::json err = {{"code", code_name(code)}, {"message", message}};
  if (!detail.is_null()) {
    err["detail"] = detail;
  }
  return nlohmann::json{{"errors", nlohmann::json::array({err})}}.dump();
}

std::pair<int, ErrorCode> map_error(util::ErrorKind kind, ErrorCode fallback) noexcept {
  using util::ErrorKind;
  switch (kind) {
    case ErrorKind::InvalidInput: return {400, fallback};
    case ErrorKind::NotFound: return {404, fallback};
    case ErrorKind::Corruption: return {400, ErrorCode::DigestInvalid};
    case ErrorKind::Unauthorized: return {401, ErrorCode::Unauthorized};
    case ErrorKind::Conflict: return {409, fallback};
    case ErrorKind::Timeout: return {503, ErrorCode::TooManyRequests};
    case ErrorKind::Unsupported: return {400, ErrorCode::Unsupported};
    case ErrorKind::IO:
    case ErrorKind::Internal: break;
  }
  return {500, fallback};
}

}  // namespace strata::registry
