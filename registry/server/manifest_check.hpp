// Validation of pushed manifests: what a manifest PUT must check before storing the bytes
// (JSON shape, media type agreement, descriptors) and what it references (blobs, child
// manifests, subject) for the existence check and the referrers index.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::registry {

/// What the registry needs to know about a pushed manifest or index.
struct ManifestInfo {
  std::string media_type;            // the effective media type (Content-Type or mediaType)
  bool is_index = false;             // OCI index or Docker manifest list
  std::vector<std::string> references;  // digests that must exist in the repository
  std::optional<std::string> subject;   // subject descriptor's digest
  std::string artifact_type;  // for referrers: artifactType, else config.mediaType (manifest)
  std::string annotations_json;  // annotations object as JSON text, empty when absent
};

/// Parses and validates `body` pushed with Content-Type `content_type` (parameters are
/// ignored; empty means "use the body's mediaType"). Throws ApiError 400 MANIFEST_INVALID
/// naming the offending field. Pure function; thread-safe.
ManifestInfo inspect_manifest(std::string_view body, std::string_view content_type);

}  // namespace strata::registry
