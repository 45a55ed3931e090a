// JSON for descriptors, manifests and indexes (image-spec descriptor.md, manifest.md,
// image-index.md), also reading Docker's v2 schema2 manifest and manifest list, which have
// the same shape. Output keys are sorted (nlohmann::json's std::map objects) and compact.
#include <string>

#include "oci/base64.hpp"
#include "oci/image.hpp"
#include "oci/json_fields.hpp"
#include "oci/media_types.hpp"

namespace strata::oci {
namespace {

using json_detail::Ctx;
using json_detail::element;
using json_detail::field;
using json_detail::Json;

Json platform_json(const Platform& p) {
  Json j = Json::object();
  j["architecture"] = p.architecture;
  j["os"] = p.os;
  if (!p.variant.empty()) {
    j["variant"] = p.variant;
  }
  if (!p.os_version.empty()) {
    j["os.version"] = p.os_version;
  }
  if (!p.os_features.empty()) {
    j["os.features"] = p.os_features;
  }
  return j;
}

Json descriptor_json(const Descriptor& d) {
  Json j = Json::object();
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest.str();
  j["size"] = d.size;
  if (!d.urls.empty()) {
    j["urls"] = d.urls;
  }
  if (!d.annotations.empty()) {
    j["annotations"] = d.annotations;
  }
  if (d.platform) {
    j["platform"] = platform_json(*d.platform);
  }
  if (!d.artifact_type.empty()) {
    j["artifactType"] = d.artifact_type;
  }
  if (!d.data.empty()) {
    j["data"] = base64_encode(d.data);
  }
  return j;
}

Platform parse_platform(const Ctx& ctx, const Json& obj, const std::string& path) {
  Platform p;
  p.architecture = json_detail::req_string(ctx, obj, path, "architecture");
  p.os = json_detail::req_string(ctx, obj, path, "os");
  p.variant = json_detail::opt_string(ctx, obj, path, "variant");
  p.os_version = json_detail::opt_string(ctx, obj, path, "os.version");
  p.os_features = json_detail::opt_string_array(ctx, obj, path, "os.features");
  return p;
}

Descriptor parse_descriptor(const Ctx& ctx, const Json& obj, const std::string& path) {
  if (!obj.is_object()) {
    ctx.fail(path, "expected a descriptor object");
  }
  Descriptor d;
  d.media_type = json_detail::req_string(ctx, obj, path, "mediaType");
  d.digest = json_detail::req_digest(ctx, obj, path, "digest");
  d.size = json_detail::req_int(ctx, obj, path, "size");
  if (d.size < 0) {
    ctx.fail(field(path, "size"), "must not be negative");
  }
  d.urls = json_detail::opt_string_array(ctx, obj, path, "urls");
  d.annotations = json_detail::opt_string_map(ctx, obj, path, "annotations");
  if (const Json* p = json_detail::opt_object(ctx, obj, path, "platform")) {
    d.platform = parse_platform(ctx, *p, field(path, "platform"));
  }
  d.artifact_type = json_detail::opt_string(ctx, obj, path, "artifactType");
  const std::string data = json_detail::opt_string(ctx, obj, path, "data");
  if (!data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) {
      ctx.fail(field(path, "data"), "not valid base64");
    }
    if (static_cast<std::int64_t>(decoded->size()) != d.size) {
      ctx.fail(field(path, "data"), "holds " + std::to_string(decoded->size()) +
                                        " bytes but size says " + std::to_string(d.size));
    }
    if (const auto alg = d.digest.hash_algorithm()) {
      if (Digest::of(*decoded, *alg) != d.digest) {
        ctx.fail(field(path, "data"), "does not match digest " + d.digest.str());
      }
    }
    d.data = std::move(*decoded);
  }
  return d;
}

std::vector<Descriptor> parse_descriptor_array(const Ctx& ctx, const Json& obj, const char* key) {
  const Json& arr = json_detail::req_array(ctx, obj, "", key);
  std::vector<Descriptor> out;
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    out.push_back(parse_descriptor(ctx, arr[i], element(key, i)));
  }
  return out;
}

void check_schema_version(const Ctx& ctx, const Json& obj) {
  const std::int64_t v = json_detail::req_int(ctx, obj, "", "schemaVersion");
  if (v == 1) {
    ctx.fail("schemaVersion", "Docker schema 1 manifests are not supported; re-push the image "
                              "with a current client to convert it to schema 2",
             util::ErrorKind::Unsupported);
  }
  if (v != 2) {
    ctx.fail("schemaVersion", "must be 2, got " + std::to_string(v));
  }
}

std::optional<Descriptor> parse_subject(const Ctx& ctx, const Json& obj) {
  const Json* s = json_detail::member(obj, "subject");
  if (s == nullptr) {
    return std::nullopt;
  }
  return parse_descriptor(ctx, *s, "subject");
}

void put_common(Json& j, int schema_version, const std::string& media_type,
                const std::string& artifact_type, const std::optional<Descriptor>& subject,
                const std::map<std::string, std::string>& annotations) {
  j["schemaVersion"] = schema_version;
  if (!media_type.empty()) {
    j["mediaType"] = media_type;
  }
  if (!artifact_type.empty()) {
    j["artifactType"] = artifact_type;
  }
  if (subject) {
    j["subject"] = descriptor_json(*subject);
  }
  if (!annotations.empty()) {
    j["annotations"] = annotations;
  }
}

}  // namespace

std::string to_json(const Manifest& manifest) {
  Json j = Json::object();
  put_common(j, manifest.schema_version, manifest.media_type, manifest.artifact_type,
             manifest.subject, manifest.annotations);
  j["config"] = descriptor_json(manifest.config);
  j["layers"] = Json::array();
  for (const auto& layer : manifest.layers) {
    j["layers"].push_back(descriptor_json(layer));
  }
  return json_detail::dump(j, "manifest");
}

std::string to_json(const Index& index) {
  Json j = Json::object();
  put_common(j, index.schema_version, index.media_type, index.artifact_type, index.subject,
             index.annotations);
  j["manifests"] = Json::array();
  for (const auto& m : index.manifests) {
    j["manifests"].push_back(descriptor_json(m));
  }
  return json_detail::dump(j, "index");
}

Manifest parse_manifest(std::string_view json, std::string_view what) {
  const Ctx ctx("manifest", what);
  const Json j = json_detail::parse_object(json, ctx);
  check_schema_version(ctx, j);
  Manifest m;
  m.media_type = json_detail::opt_string(ctx, j, "", "mediaType");
  if (!m.media_type.empty() && !media::is_manifest(m.media_type)) {
    ctx.fail("mediaType", "'" + m.media_type + "' is not an image manifest type" +
                              (media::is_index(m.media_type) ? " (this is an index)" : ""));
  }
  m.artifact_type = json_detail::opt_string(ctx, j, "", "artifactType");
  m.config = parse_descriptor(ctx, json_detail::req_object(ctx, j, "", "config"), "config");
  m.layers = parse_descriptor_array(ctx, j, "layers");
  m.subject = parse_subject(ctx, j);
  m.annotations = json_detail::opt_string_map(ctx, j, "", "annotations");
  return m;
}

Index parse_index(std::string_view json, std::string_view what) {
  const Ctx ctx("index", what);
  const Json j = json_detail::parse_object(json, ctx);
  check_schema_version(ctx, j);
  Index idx;
  idx.media_type = json_detail::opt_string(ctx, j, "", "mediaType");
  if (!idx.media_type.empty() && !media::is_index(idx.media_type)) {
    ctx.fail("mediaType", "'" + idx.media_type + "' is not an image index type" +
                              (media::is_manifest(idx.media_type) ? " (this is a manifest)" : ""));
  }
  idx.artifact_type = json_detail::opt_string(ctx, j, "", "artifactType");
  idx.manifests = parse_descriptor_array(ctx, j, "manifests");
  idx.subject = parse_subject(ctx, j);
  idx.annotations = json_detail::opt_string_map(ctx, j, "", "annotations");
  return idx;
}

std::string detect_media_type(std::string_view json, std::string_view what) {
  const Ctx ctx("document", what);
  const Json j = json_detail::parse_object(json, ctx);
  std::string media_type = json_detail::opt_string(ctx, j, "", "mediaType");
  if (!media_type.empty()) {
    return media_type;
  }
  if (json_detail::member(j, "manifests") != nullptr) {
    return std::string(media::k_oci_index);
  }
  if (json_detail::member(j, "config") != nullptr && json_detail::member(j, "layers") != nullptr) {
    return std::string(media::k_oci_manifest);
  }
  ctx.fail("mediaType", "missing, and the document has neither 'manifests' nor "
                        "'config' and 'layers'; it is not a manifest or an index");
}

}  // namespace strata::oci
