#include "oci/digest.hpp"

#include "util/error.hpp"

namespace strata::oci {
namespace {

bool is_alg_component_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alg_separator(char c) { return c == '+' || c == '.' || c == '_' || c == '-'; }
bool is_encoded_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '=' || c == '_' || c == '-';
}
bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// algorithm ::= component (separator component)*, component ::= [a-z0-9]+
bool valid_algorithm(std::string_view a) {
  if (a.empty()) {
    return false;
  }
  bool need_component = true;
  for (char c : a) {
    if (is_alg_component_char(c)) {
      need_component = false;
    } else if (is_alg_separator(c) && !need_component) {
      need_component = true;
    } else {
      return false;
    }
  }
  return !need_component;
}

const char* validate(std::string_view text, std::string& alg, std::string& enc) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return "missing ':' between algorithm and encoded part";
  }
  alg = std::string(text.substr(0, colon));
  enc = std::string(text.substr(colon + 1));
  if (!valid_algorithm(alg)) {
    return "invalid algorithm";
  }
  if (enc.empty()) {
    return "empty encoded part";
  }
  for (char c : enc) {
    if (!is_encoded_char(c)) {
      return "invalid character in encoded part";
    }
  }
  std::size_t want = 0;
  if (alg == "sha256") {
    want = 64;
  } else if (alg == "sha512") {
    want = 128;
  }
  if (want != 0) {
    if (enc.size() != want) {
      return alg == "sha256" ? "sha256 needs 64 hex digits" : "sha512 needs 128 hex digits";
    }
    for (char c : enc) {
      if (!is_lower_hex(c)) {
        return "registered algorithms need lower-case hex";
      }
    }
  }
  return nullptr;
}

}  // namespace

Digest Digest::parse(std::string_view text) {
  Digest d;
  if (const char* why = validate(text, d.m_algorithm, d.m_hex)) {
    util::fail(util::ErrorKind::InvalidInput,
               "invalid digest '" + std::string(text.substr(0, 200)) + "': " + why);
  }
  return d;
}

std::optional<Digest> Digest::try_parse(std::string_view text) noexcept {
  try {
    Digest d;
    if (validate(text, d.m_algorithm, d.m_hex) != nullptr) {
      return std::nullopt;
    }
    return d;
  } catch (...) {
    return std::nullopt;
  }
}

Digest Digest::of(std::string_view data, util::HashAlgorithm algorithm) {
  return from_hex(algorithm, util::hash_hex(data, algorithm));
}

Digest Digest::of_file(const std::string& path, util::HashAlgorithm algorithm) {
  return from_hex(algorithm, util::hash_file_hex(path, algorithm));
}

Digest Digest::from_hex(util::HashAlgorithm algorithm, std::string hex) {
  Digest d;
  d.m_algorithm = algorithm == util::HashAlgorithm::Sha256 ? "sha256" : "sha512";
  d.m_hex = std::move(hex);
  return d;
}

std::optional<util::HashAlgorithm> Digest::hash_algorithm() const noexcept {
  if (m_algorithm == "sha256") {
    return util::HashAlgorithm::Sha256;
  }
  if (m_algorithm == "sha512") {
    return util::HashAlgorithm::Sha512;
  }
  return std::nullopt;
}

}  // namespace strata::oci
