// SPDX 2.3 and CycloneDX 1.5 JSON documents of an SbomInventory (see sbom.hpp and
// docs/sbom.md). nlohmann::json objects keep their keys sorted, and every list is built
// from the inventory's sorted lists, so the output is a pure function of the inventory.
#include <nlohmann/json.hpp>

#include <set>

#include "builder/sbom.hpp"
#include "oci/image.hpp"

namespace strata::builder {
namespace {

using nlohmann::json;

constexpr const char* k_noassertion = "NOASSERTION";

std::string dump(const json& doc) {
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

/// An SPDX element id "SPDXRef-<prefix>-<text>" limited to [A-Za-z0-9.-], made unique
/// within `used` by a numeric suffix.
std::string spdx_id(std::string_view prefix, std::string_view text, std::set<std::string>& used) {
  std::string id = "SPDXRef-" + std::string(prefix) + "-";
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
    id += ok ? std::string(1, c) : (c == '+' ? std::string("plus") : std::string("-"));
  }
  std::string unique = id;
  for (int n = 2; used.contains(unique); ++n) {
    unique = id + "-" + std::to_string(n);
  }
  used.insert(unique);
  return unique;
}

std::string spdx_algorithm(const oci::Digest& digest) {
  return digest.algorithm() == "sha512" ? "SHA512" : "SHA256";
}

std::string cdx_algorithm(const oci::Digest& digest) {
  return digest.algorithm() == "sha512" ? "SHA-512" : "SHA-256";
}

std::string layer_text(const SbomLayer& layer) {
  if (!layer.exact) {
    return "layer " + layer.name + " (written as several image layers)";
  }
  return "image layer " + std::to_string(layer.index + 1) + " (" + layer.name + ", " +
         layer.digest.str() + ")";
}

/// The file name at the end of a URL (without query), else the whole URL.
std::string url_file_name(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  const auto slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.empty() ? url : name;
}

json layer_properties(const SbomLayer& layer) {
  if (!layer.exact) {
    return json::array({{{"name", "strata:layer"}, {"value", layer.name}}});
  }
  return json::array({{{"name", "strata:layer"}, {"value", layer.name}},
                      {{"name", "strata:layer-digest"}, {"value", layer.digest.str()}},
                      {{"name", "strata:layer-index"}, {"value", std::to_string(layer.index)}}});
}

}  // namespace

std::string spdx_json(const SbomInventory& inv) {
  std::set<std::string> used{"SPDXRef-DOCUMENT", "SPDXRef-Image"};
  const std::string created = oci::format_rfc3339(inv.created);
  json packages = json::array();
  json relationships = json::array();
  relationships.push_back({{"spdxElementId", "SPDXRef-DOCUMENT"},
                           {"relationshipType", "DESCRIBES"},
                           {"relatedSpdxElement", "SPDXRef-Image"}});

  packages.push_back(
      {{"SPDXID", "SPDXRef-Image"},
       {"name", inv.name},
       {"versionInfo", inv.manifest.str()},
       {"downloadLocation", k_noassertion},
       {"filesAnalyzed", false},
       {"primaryPackagePurpose", "CONTAINER"},
       {"supplier", k_noassertion},
       {"licenseConcluded", k_noassertion},
       {"licenseDeclared", k_noassertion},
       {"copyrightText", k_noassertion},
       {"checksums", json::array({{{"algorithm", spdx_algorithm(inv.manifest)},
                                   {"checksumValue", inv.manifest.hex()}}})},
       {"externalRefs",
        json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                      {"referenceType", "purl"},
                      {"referenceLocator",
                       oci_purl(inv.name, inv.manifest, inv.tag.substr(inv.tag.rfind(':') + 1))}}})},
       {"comment", "OCI image manifest " + inv.manifest.str() + ", stored as " + inv.tag}});

  for (const auto& p : inv.packages) {
    const std::string id =
        spdx_id("Package-deb", p.package.name + "-" + p.package.architecture, used);
    packages.push_back(
        {{"SPDXID", id},
         {"name", p.package.name},
         {"versionInfo", p.package.version},
         {"downloadLocation", k_noassertion},
         {"packageFileName", p.package.path},
         {"filesAnalyzed", false},
         {"supplier", k_noassertion},
         {"licenseConcluded", k_noassertion},
         {"licenseDeclared", k_noassertion},
         {"copyrightText", k_noassertion},
         {"checksums", json::array({{{"algorithm", spdx_algorithm(p.package.sha256)},
                                     {"checksumValue", p.package.sha256.hex()}}})},
         {"externalRefs", json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                                        {"referenceType", "purl"},
                                        {"referenceLocator", p.purl}}})},
         {"comment", "Debian package (" + p.package.architecture + ") from " +
                         p.package.archive + ", installed in " + layer_text(p.layer)}});
    relationships.push_back({{"spdxElementId", "SPDXRef-Image"},
                             {"relationshipType", "CONTAINS"},
                             {"relatedSpdxElement", id}});
  }

  for (const auto& f : inv.files) {
    const std::string id = spdx_id("Fetched", f.dest, used);
    packages.push_back(
        {{"SPDXID", id},
         {"name", url_file_name(f.url)},
         {"downloadLocation", f.url},
         {"filesAnalyzed", false},
         {"primaryPackagePurpose", f.extracted ? "ARCHIVE" : "FILE"},
         {"supplier", k_noassertion},
         {"licenseConcluded", k_noassertion},
         {"licenseDeclared", k_noassertion},
         {"copyrightText", k_noassertion},
         {"checksums", json::array({{{"algorithm", spdx_algorithm(f.digest)},
                                     {"checksumValue", f.digest.hex()}}})},
         {"comment", std::string(f.extracted ? "fetched and extracted to " : "fetched to ") +
                         f.dest + " in " + layer_text(f.layer)}});
    relationships.push_back({{"spdxElementId", "SPDXRef-Image"},
                             {"relationshipType", "CONTAINS"},
                             {"relatedSpdxElement", id}});
  }

  const json doc{{"spdxVersion", "SPDX-2.3"},
                 {"dataLicense", "CC0-1.0"},
                 {"SPDXID", "SPDXRef-DOCUMENT"},
                 {"name", inv.name + "@" + inv.manifest.str()},
                 {"documentNamespace", spdx_document_namespace(inv.name, inv.manifest)},
                 {"creationInfo", {{"created", created}, {"creators", json::array({"Tool: strata"})}}},
                 {"packages", std::move(packages)},
                 {"relationships", std::move(relationships)}};
  return dump(doc);
}

std::string cyclonedx_json(const SbomInventory& inv) {
  const std::string image_ref =
      oci_purl(inv.name, inv.manifest, inv.tag.substr(inv.tag.rfind(':') + 1));
  json components = json::array();
  std::set<std::string> refs{image_ref};
  for (const auto& p : inv.packages) {
    std::string ref = p.purl;
    for (int n = 2; refs.contains(ref); ++n) {
      ref = p.purl + "#" + std::to_string(n);
    }
    refs.insert(ref);
    json props = layer_properties(p.layer);
    props.push_back({{"name", "strata:debian-archive"}, {"value", p.package.archive}});
    props.push_back({{"name", "strata:debian-path"}, {"value", p.package.path}});
    components.push_back(
        {{"type", "library"},
         {"bom-ref", ref},
         {"name", p.package.name},
         {"version", p.package.version},
         {"purl", p.purl},
         {"hashes", json::array({{{"alg", cdx_algorithm(p.package.sha256)},
                                  {"content", p.package.sha256.hex()}}})},
         {"properties", std::move(props)}});
  }
  for (const auto& f : inv.files) {
    std::string ref = "fetch:" + std::to_string(f.layer.index) + ":" + f.dest;
    for (int n = 2; refs.contains(ref); ++n) {
      ref = "fetch:" + std::to_string(f.layer.index) + ":" + f.dest + "#" + std::to_string(n);
    }
    refs.insert(ref);
    json props = layer_properties(f.layer);
    props.push_back({{"name", "strata:path"}, {"value", f.dest}});
    props.push_back({{"name", "strata:extracted"}, {"value", f.extracted ? "true" : "false"}});
    components.push_back(
        {{"type", "file"},
         {"bom-ref", ref},
         {"name", url_file_name(f.url)},
         {"hashes", json::array({{{"alg", cdx_algorithm(f.digest)}, {"content", f.digest.hex()}}})},
         {"externalReferences", json::array({{{"type", "distribution"}, {"url", f.url}}})},
         {"properties", std::move(props)}});
  }

  const json image{{"type", "container"},
                   {"bom-ref", image_ref},
                   {"name", inv.name},
                   {"version", inv.manifest.str()},
                   {"purl", image_ref},
                   {"hashes", json::array({{{"alg", cdx_algorithm(inv.manifest)},
                                            {"content", inv.manifest.hex()}}})},
                   {"properties", json::array({{{"name", "strata:tag"}, {"value", inv.tag}}})}};
  const json doc{
      {"$schema", "http://cyclonedx.org/schema/bom-1.5.schema.json"},
      {"bomFormat", "CycloneDX"},
      {"specVersion", "1.5"},
      {"serialNumber", cyclonedx_serial_number(inv.name, inv.manifest)},
      {"version", 1},
      {"metadata",
       {{"timestamp", oci::format_rfc3339(inv.created)},
        {"tools", {{"components", json::array({{{"type", "application"}, {"name", "strata"}}})}}},
        {"component", image}}},
      {"components", std::move(components)}};
  return dump(doc);
}

}  // namespace strata::builder
