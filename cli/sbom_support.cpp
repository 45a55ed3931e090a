// SBOM files beside OCI layouts and SBOM referrers in registries (see sbom_support.hpp).
#include "cli/sbom_support.hpp"

#include <memory>

#include "oci/image.hpp"
#include "oci/media_types.hpp"
#include "util/fs.hpp"
#include "util/io.hpp"

namespace strata::cli {
namespace {

/// The OCI empty descriptor's content.
constexpr std::string_view k_empty_json = "{}";

void upload_if_missing(registry::client::RegistryClient& client, const std::string& repo,
                       std::string_view bytes) {
  const oci::Digest digest = oci::Digest::of(bytes);
  if (client.blob_size(repo, digest)) {
    return;
  }
  client.upload_blob(repo, digest, bytes.size(),
                     [bytes] { return std::make_unique<util::StringSource>(bytes); });
}

}  // namespace

std::vector<std::filesystem::path> write_sboms(const std::filesystem::path& dir,
                                               const builder::SbomInventory& inventory) {
  const auto spdx = dir / k_spdx_file_name;
  const auto cdx = dir / k_cyclonedx_file_name;
  util::write_file_atomic(spdx, builder::spdx_json(inventory));
  util::write_file_atomic(cdx, builder::cyclonedx_json(inventory));
  return {spdx, cdx};
}

std::string sbom_referrer_manifest(const oci::Descriptor& subject, const std::string& spdx,
                                   std::int64_t created) {
  oci::Manifest m;
  m.media_type = std::string(oci::media::k_oci_manifest);
  m.artifact_type = std::string(builder::k_media_type_spdx);
  m.config.media_type = std::string(oci::media::k_oci_empty);
  m.config.digest = oci::Digest::of(k_empty_json);
  m.config.size = static_cast<std::int64_t>(k_empty_json.size());
  m.config.data = std::string(k_empty_json);
  oci::Descriptor layer;
  layer.media_type = std::string(builder::k_media_type_spdx);
  layer.digest = oci::Digest::of(spdx);
  layer.size = static_cast<std::int64_t>(spdx.size());
  layer.annotations["org.opencontainers.image.title"] = k_spdx_file_name;
  m.layers.push_back(std::move(layer));
  oci::Descriptor subj;
  subj.media_type = subject.media_type;
  subj.digest = subject.digest;
  subj.size = subject.size;
  m.subject = std::move(subj);
  m.annotations["org.opencontainers.image.created"] = oci::format_rfc3339(created);
  return oci::to_json(m);
}

oci::Digest push_sbom_referrer(registry::client::RegistryClient& client, const std::string& repo,
                               const oci::Descriptor& subject, const std::string& spdx,
                               std::int64_t created) {
  upload_if_missing(client, repo, k_empty_json);
  upload_if_missing(client, repo, spdx);
  const std::string manifest = sbom_referrer_manifest(subject, spdx, created);
  const oci::Digest digest = oci::Digest::of(manifest);
  client.put_manifest(repo, digest.str(), manifest, std::string(oci::media::k_oci_manifest));
  return digest;
}

}  // namespace strata::cli
