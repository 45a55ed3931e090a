// Software bills of materials for built images: SPDX 2.3 JSON and CycloneDX 1.5 JSON.
//
// Both documents are made from the same inventory (collect_inventory): the image itself
// (its manifest digest), every Debian package the recipe's lock pins, with the image layer
// it was installed in, and every file a `fetch` step downloaded, with its URL and pinned
// digest. Nothing is read from the image's file system: the lock and the recipe already
// say exactly what went in, and they are what a build of the same inputs reproduces.
//
// The documents are deterministic: the same recipe, lock and image give the same bytes.
// Times are SOURCE_DATE_EPOCH (never "now"); SPDX's documentNamespace and CycloneDX's
// serialNumber are derived from the image manifest digest; lists are sorted; JSON keys are
// sorted. Field-by-field description and the purl rules: docs/sbom.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "builder/build.hpp"
#include "builder/lock.hpp"
#include "builder/recipe.hpp"
#include "oci/digest.hpp"

namespace strata::builder {

/// Media type of an SPDX JSON document (the OCI referrer's artifactType and layer type).
inline constexpr std::string_view k_media_type_spdx = "application/spdx+json";
/// Media type of a CycloneDX JSON document.
inline constexpr std::string_view k_media_type_cyclonedx = "application/vnd.cyclonedx+json";

/// Where an inventoried item sits in the image. Value type.
struct SbomLayer {
  std::string name;  // "recipe/layer" (layer name, or "#N" 1-based in its recipe)
  /// Whether `index` and `digest` name the one image layer holding the item. False when
  /// the recipe's layers did not map one to one onto image layers (a big debian layer
  /// written as several parts): then only `name` is known.
  bool exact = true;
  std::size_t index = 0;  // 0-based position among the image's layers (bottom first)
  oci::Digest digest;     // the layer blob
};

/// One Debian package of the image. Value type.
struct SbomPackage {
  LockedPackage package;
  SbomLayer layer;
  std::string purl;  // debian_purl()
};

/// One file downloaded by a fetch step. Value type.
struct SbomFetchedFile {
  std::string url;
  oci::Digest digest;  // sha256 or sha512, as pinned in the recipe
  std::string dest;    // path in the image
  bool extracted = false;
  SbomLayer layer;
};

/// Everything an SBOM lists. Value type; lists sorted (packages by name, architecture;
/// files by layer index, then dest).
struct SbomInventory {
  std::string name;           // recipe name
  std::string tag;            // store tag "NAME:TAG"
  oci::Digest manifest;       // image manifest digest
  std::uint64_t manifest_size = 0;
  std::int64_t created = 0;   // SOURCE_DATE_EPOCH of the image
  std::string distro;         // Debian codename ("" when the image has no Debian layer)
  std::vector<SbomPackage> packages;
  std::vector<SbomFetchedFile> files;
};

/// The inventory of `result`, an image built from `recipe` with `lock` (nullptr when the
/// stack has no debian layer). Throws Conflict when the lock does not agree with the
/// recipe, InvalidInput when `result` has fewer layers than the recipe stack defines.
SbomInventory collect_inventory(const Recipe& recipe, const Lock* lock, const BuildResult& result);

/// Package URL of a Debian binary package, per the purl spec's `deb` type:
/// "pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-CODENAME". The version is the full
/// Debian version, epoch included ("1:2.4.47-2"), percent-encoded except for ':' (so '+'
/// becomes %2B); qualifiers sorted by key; `distro` omitted when `codename` is empty.
std::string debian_purl(const LockedPackage& package, std::string_view codename);

/// Package URL of an OCI image: "pkg:oci/NAME@sha256%3AHEX" (NAME lower-cased, its last
/// path component), with "?tag=TAG" when `tag` is not empty.
std::string oci_purl(std::string_view name, const oci::Digest& manifest, std::string_view tag);

/// The SPDX documentNamespace of an image:
/// "https://strata.invalid/spdx/NAME-HEX" (HEX: the manifest digest's hex). The
/// ".invalid" top-level domain (RFC 2606) is never resolvable: the URI names, it locates
/// nothing.
std::string spdx_document_namespace(std::string_view name, const oci::Digest& manifest);

/// A name-based UUID (RFC 4122 version 5, SHA-1, URL namespace) of `name`, lower-case
/// "xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx".
std::string uuid_v5_url(std::string_view name);

/// "urn:uuid:" + uuid_v5_url("https://strata.invalid/cyclonedx/NAME-HEX").
std::string cyclonedx_serial_number(std::string_view name, const oci::Digest& manifest);

/// SPDX 2.3 JSON of the inventory (pretty-printed, sorted keys, trailing newline).
std::string spdx_json(const SbomInventory& inventory);

/// CycloneDX 1.5 JSON of the inventory (pretty-printed, sorted keys, trailing newline).
std::string cyclonedx_json(const SbomInventory& inventory);

}  // namespace strata::builder
