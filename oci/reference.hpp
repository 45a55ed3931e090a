// Image references: [registry/]repository[:tag][@digest], validated against the
// distribution-spec grammars, with docker.io normalisation ("ubuntu" ->
// "docker.io/library/ubuntu:latest"; index.docker.io -> docker.io).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "oci/digest.hpp"

namespace strata::oci {

struct Reference {
  std::string registry;    // "docker.io", "localhost:5000", "ghcr.io"
  std::string repository;  // "library/ubuntu", "team/env"
  std::string tag;         // empty when only a digest is given
  std::optional<Digest> digest;

  /// Parses and normalises; a reference with neither tag nor digest gets tag "latest".
  /// Throws InvalidInput explaining which part is wrong.
  static Reference parse(std::string_view text);
  /// "registry/repository[:tag][@digest]".
  [[nodiscard]] std::string str() const;
  /// Tag if set, else the digest string (what goes in /v2/<name>/manifests/<reference>).
  [[nodiscard]] std::string identifier() const;
};

/// distribution-spec repository name grammar:
/// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
bool is_valid_repository(std::string_view name) noexcept;
/// Tag grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
bool is_valid_tag(std::string_view tag) noexcept;

}  // namespace strata::oci
