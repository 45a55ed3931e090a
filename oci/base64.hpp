// Base64 (RFC 4648, standard alphabet, with padding) for the `data` field of OCI
// descriptors, which Go's encoding/json writes for []byte.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace strata::oci {

/// Encodes bytes as padded standard base64. Pure function; thread-safe.
std::string base64_encode(std::string_view bytes);

/// Decodes padded standard base64 strictly (no whitespace, no URL alphabet, correct
/// padding, zero unused bits); nullopt when the text is not canonical base64. Thread-safe.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace strata::oci
