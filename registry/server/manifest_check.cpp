#include "registry/server/manifest_check.hpp"

#include <nlohmann/json.hpp>

#include "oci/digest.hpp"
#include "oci/media_types.hpp"
#include "registry/server/errors.hpp"

namespace strata::registry {

namespace {

using nlohmann::json;

[[noreturn]] void invalid(const std::string& message) {
  throw ApiError(400, ErrorCode::ManifestInvalid, "invalid manifest: " + message);
}

std::string strip_parameters(std::string_view type) {
  const auto semi = type.find(';');
  std::string_view t = type.substr(0, semi);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
    t.remove_suffix(1);
  }
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
    t.remove_prefix(1);
  }
  return std::string(t);
}

/// Validates a descriptor at `where`; returns its digest.
std::string check_descriptor(const json& d, const std::string& where) {
  if (!d.is_object()) {
    invalid(where + " is not a descriptor object");
  }
  const auto mt = d.find("mediaType");
  if (mt == d.end() || !mt->is_string() || mt->get_ref<const std::string&>().empty()) {
    invalid(where + ".mediaType is missing or not a string");
  }
  const auto size = d.find("size");
  if (size == d.end() || !(size->is_number_unsigned() || size->is_number_integer()) ||
      (size->is_number_integer() && size->get<std::int64_t>() < 0)) {
    invalid(where + ".size is missing or not a non-negative integer");
  }
  const auto digest = d.find("digest");
  if (digest == d.end() || !digest->is_string() ||
      !oci::Digest::try_parse(digest->get_ref<const std::string&>())) {
    invalid(where + ".digest is missing or not a valid digest");
  }
  if (const auto at = d.find("artifactType"); at != d.end() && !at->is_string()) {
    invalid(where + ".artifactType is not a string");
  }
  return digest->get<std::string>();
}

/// True for layers that need not be in the registry (foreign/non-distributable with URLs).
bool is_external(const json& d) {
  const auto urls = d.find("urls");
  return urls != d.end() && urls->is_array() && !urls->empty();
}

std::string annotations_of(const json& doc) {
  const auto a = doc.find("annotations");
  if (a == doc.end() || a->is_null()) {
    return {};
  }
  if (!a->is_object()) {
    invalid("annotations is not an object");
  }
  for (const auto& [key, value] : a->items()) {
    if (!value.is_string()) {
      invalid("annotation \"" + key + "\" is not a string");
    }
  }
  return a->dump();
}

}  // namespace

ManifestInfo inspect_manifest(std::string_view body, std::string_view content_type) {
  json doc;
  try {
    doc = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    invalid(std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) {
    invalid("the document is not a JSON object");
  }
  ManifestInfo info;
  std::string declared;
  if (const auto mt = doc.find("mediaType"); mt != doc.end()) {
    if (!mt->is_string()) {
      invalid("mediaType is not a string");
    }
    declared = mt->get<std::string>();
  }
  info.media_type = strip_parameters(content_type);
  if (info.media_type.empty()) {
    info.media_type = declared;
  }
  if (info.media_type.empty()) {  // neither header nor field: infer from the shape
    info.media_type = doc.contains("manifests") ? std::string(oci::media::k_oci_index)
                                                : std::string(oci::media::k_oci_manifest);
  }
  if (!declared.empty() && declared != info.media_type) {
    invalid("Content-Type " + info.media_type + " differs from the manifest's mediaType " +
            declared);
  }
  if (!oci::media::is_manifest(info.media_type) && !oci::media::is_index(info.media_type)) {
    invalid("unsupported media type \"" + info.media_type +
            "\"; this registry stores OCI image manifests and indexes and Docker schema2 "
            "manifests and manifest lists");
  }
  info.is_index = oci::media::is_index(info.media_type);
  const auto version = doc.find("schemaVersion");
  if (version == doc.end() || !version->is_number_integer() || version->get<int>() != 2) {
    invalid("schemaVersion must be 2");
  }

  if (info.is_index) {
    const auto manifests = doc.find("manifests");
    if (manifests == doc.end() || !manifests->is_array()) {
      invalid("manifests is missing or not an array");
    }
    for (std::size_t i = 0; i < manifests->size(); ++i) {
      info.references.push_back(
          check_descriptor((*manifests)[i], "manifests[" + std::to_string(i) + "]"));
    }
  } else {
    const auto config = doc.find("config");
    if (config == doc.end()) {
      invalid("config is missing");
    }
    info.references.push_back(check_descriptor(*config, "config"));
    const auto layers = doc.find("layers");
    if (layers != doc.end()) {
      if (!layers->is_array()) {
        invalid("layers is not an array");
      }
      for (std::size_t i = 0; i < layers->size(); ++i) {
        const json& layer = (*layers)[i];
        const std::string digest = check_descriptor(layer, "layers[" + std::to_string(i) + "]");
        if (!is_external(layer)) {
          info.references.push_back(digest);
        }
      }
    } else if (info.media_type != oci::media::k_oci_manifest) {
      invalid("layers is missing");
    }
    info.artifact_type = (*config)["mediaType"].get<std::string>();
  }
  if (const auto at = doc.find("artifactType"); at != doc.end()) {
    if (!at->is_string()) {
      invalid("artifactType is not a string");
    }
    if (!at->get_ref<const std::string&>().empty()) {
      info.artifact_type = at->get<std::string>();
    }
  }
  if (const auto subject = doc.find("subject"); subject != doc.end() && !subject->is_null()) {
    info.subject = check_descriptor(*subject, "subject");
  }
  info.annotations_json = annotations_of(doc);
  return info;
}

}  // namespace strata::registry
