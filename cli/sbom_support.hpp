// What `build` and `sbom` share about SBOMs: writing both documents beside an OCI layout and
// attaching the SPDX document to a pushed image as an OCI referrer (docs/sbom.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "builder/sbom.hpp"
#include "oci/digest.hpp"
#include "registry/client/client.hpp"

namespace strata::cli {

/// File names of the SBOMs written into an OCI layout directory (beside index.json, not
/// among the blobs).
inline constexpr const char* k_spdx_file_name = "sbom.spdx.json";
inline constexpr const char* k_cyclonedx_file_name = "sbom.cdx.json";

/// Writes DIR/sbom.spdx.json and DIR/sbom.cdx.json atomically; returns their paths.
std::vector<std::filesystem::path> write_sboms(const std::filesystem::path& dir,
                                               const builder::SbomInventory& inventory);

/// The referrer manifest that attaches `spdx` to `subject`: an OCI image manifest with
/// artifactType application/spdx+json, the empty config ("{}", embedded), one layer (the
/// SPDX document) and `subject`. Pure function; returns the exact manifest bytes.
std::string sbom_referrer_manifest(const oci::Descriptor& subject, const std::string& spdx,
                                   std::int64_t created);

/// Uploads the empty config and the SPDX blob to `repo` (skipping blobs the repository
/// has) and puts the referrer manifest by digest. Returns the referrer's digest. Throws as
/// RegistryClient does.
oci::Digest push_sbom_referrer(registry::client::RegistryClient& client, const std::string& repo,
                               const oci::Descriptor& subject, const std::string& spdx,
                               std::int64_t created);

}  // namespace strata::cli
