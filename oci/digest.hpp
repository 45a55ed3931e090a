// Content digests as the OCI image-spec defines them: "<algorithm>:<encoded>".
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

#include "util/hash.hpp"

namespace strata::oci {

/// A validated digest. sha256 and sha512 are registered algorithms and can be computed;
/// other algorithms matching the grammar parse but cannot be verified. Value type.
class Digest {
 public:
  Digest() = default;

  /// Parses and validates "sha256:<64 lower hex>" or "sha512:<128 lower hex>" (and the
  /// generic grammar for other algorithms). Throws InvalidInput naming the bad text.
  static Digest parse(std::string_view text);
  /// Like parse() but returns nullopt instead of throwing.
  static std::optional<Digest> try_parse(std::string_view text) noexcept;

  /// Digest of a byte string.
  static Digest of(std::string_view data, util::HashAlgorithm algorithm = util::HashAlgorithm::Sha256);
  /// Digest of a file's content.
  static Digest of_file(const std::string& path,
                        util::HashAlgorithm algorithm = util::HashAlgorithm::Sha256);
  /// From an algorithm and hex computed elsewhere (e.g. a HashingSink).
  static Digest from_hex(util::HashAlgorithm algorithm, std::string hex);

  [[nodiscard]] const std::string& algorithm() const noexcept { return m_algorithm; }
  [[nodiscard]] const std::string& hex() const noexcept { return m_hex; }
  [[nodiscard]] std::string str() const { return m_algorithm + ":" + m_hex; }
  [[nodiscard]] bool empty() const noexcept { return m_hex.empty(); }
  /// The hash algorithm, if it is one strata can compute (sha256, sha512).
  [[nodiscard]] std::optional<util::HashAlgorithm> hash_algorithm() const noexcept;

  auto operator<=>(const Digest&) const = default;

 private:
  std::string m_algorithm;
  std::string m_hex;
};

}  // namespace strata::oci
