// The OCI image model: descriptors, manifests, indexes and image configs, with JSON
// (de)serialisation. Output JSON is stable: keys sorted, compact, no insignificant
// whitespace, optional fields omitted when empty, so the same model gives the same bytes.
// Parsing accepts OCI and Docker v2 schema2 media types and rejects malformed documents with
// InvalidInput naming the field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oci/digest.hpp"

namespace strata::oci {

struct Platform {
  std::string architecture;  // "amd64", "arm64", ...
  std::string os;            // "linux"
  std::string variant;       // optional ("v8")
  std::string os_version;    // optional
  std::vector<std::string> os_features;
  /// The host's platform (linux/<GOARCH-style arch>).
  static Platform host();
  /// "linux/amd64" or "linux/arm64/v8"; throws InvalidInput on bad text.
  static Platform parse(std::string_view text);
  [[nodiscard]] std::string str() const;
  bool operator==(const Platform&) const = default;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;  // only in indexes
  std::string artifact_type;         // optional
  std::string data;                  // optional embedded data, base64 in JSON
};

struct Manifest {
  int schema_version = 2;
  std::string media_type;     // written as "mediaType"; OCI manifests always set it
  std::string artifact_type;  // optional
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
};

struct Index {
  int schema_version = 2;
  std::string media_type;
  std::string artifact_type;
  std::vector<Descriptor> manifests;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
};

struct HistoryEntry {
  std::string created;  // RFC 3339, UTC ("1970-01-01T00:00:00Z")
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
};

/// The "config" object inside an image config (the runtime defaults).
struct RuntimeConfig {
  std::string user;
  std::vector<std::string> exposed_ports;  // "8888/tcp"
  std::vector<std::string> env;            // "KEY=VALUE", in order
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  bool has_entrypoint = false;  // distinguishes [] from unset
  bool has_cmd = false;
  std::vector<std::string> volumes;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
};

struct ImageConfig {
  std::string created;  // RFC 3339
  std::string author;
  std::string architecture;
  std::string os;
  std::string variant;
  RuntimeConfig config;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids, rootfs.type is "layers"
  std::vector<HistoryEntry> history;
};

// Serialisation. to_json returns the exact bytes to store and hash.
std::string to_json(const Manifest& manifest);
std::string to_json(const Index& index);
std::string to_json(const ImageConfig& config);

// Parsing. `what` names the document in errors (a digest or a file path).
Manifest parse_manifest(std::string_view json, std::string_view what);
Index parse_index(std::string_view json, std::string_view what);
ImageConfig parse_image_config(std::string_view json, std::string_view what);

/// mediaType of a manifest or index document (the "mediaType" field, else guessed from the
/// shape: "manifests" -> index, "config"+"layers" -> manifest). Throws InvalidInput.
std::string detect_media_type(std::string_view json, std::string_view what);

/// RFC 3339 UTC text of a Unix time ("2024-05-01T12:00:00Z").
std::string format_rfc3339(std::int64_t unix_seconds);

}  // namespace strata::oci
