// Internal to oci/: reading JSON documents field by field so that every error names the
// document and the field path, e.g. "manifest sha256:ab..: layers[2].digest: ...".
// JSON null is treated like an absent field, as Go's encoding/json does (Docker configs
// write "Entrypoint": null).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/digest.hpp"
#include "util/error.hpp"

namespace strata::oci::json_detail {

using Json = nlohmann::json;

/// Names a document in errors ("manifest" + "sha256:..."). Value type; thread-safe.
class Ctx {
 public:
  Ctx(std::string_view kind, std::string_view what) : m_prefix(std::string(kind)) {
    if (!what.empty()) {
      m_prefix += " ";
      m_prefix += what;
    }
  }
  /// Throws InvalidInput (or `kind`) "<doc>: <path>: <problem>".
  [[noreturn]] void fail(const std::string& path, const std::string& problem,
                         util::ErrorKind kind = util::ErrorKind::InvalidInput) const;
  [[nodiscard]] const std::string& prefix() const noexcept { return m_prefix; }

 private:
  std::string m_prefix;
};

/// Parses text that must be one JSON object; InvalidInput naming the document otherwise.
Json parse_object(std::string_view text, const Ctx& ctx);

/// "a" + "b" -> "a.b" (just "b" for an empty base); "a" + 2 -> "a[2]".
std::string field(const std::string& base, std::string_view key);
std::string element(const std::string& base, std::size_t i);

/// The member `key` of `obj`, or nullptr when absent or null.
const Json* member(const Json& obj, const char* key);

// Typed readers of obj[key]; `path` is the path of `obj`. The opt_ forms return an empty
// value when the field is absent; the req_ forms fail with "missing".
std::string opt_string(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);
std::string req_string(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);
std::vector<std::string> opt_string_array(const Ctx& ctx, const Json& obj,
                                          const std::string& path, const char* key);
std::map<std::string, std::string> opt_string_map(const Ctx& ctx, const Json& obj,
                                                  const std::string& path, const char* key);
/// Keys of an object whose values must be objects (ExposedPorts, Volumes), sorted.
std::vector<std::string> opt_key_set(const Ctx& ctx, const Json& obj, const std::string& path,
                                     const char* key);
std::int64_t req_int(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);
bool opt_bool(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);
Digest req_digest(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);
/// The object at obj[key]; nullptr when absent; fails if present but not an object.
const Json* opt_object(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);
const Json& req_object(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);
/// The array at obj[key]; nullptr when absent; fails if present but not an array.
const Json* opt_array(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);
const Json& req_array(const Ctx& ctx, const Json& obj, const std::string& path, const char* key);

/// Compact dump with sorted keys; InvalidInput naming `what` if a string is not UTF-8.
std::string dump(const Json& j, std::string_view what);

}  // namespace strata::oci::json_detail
