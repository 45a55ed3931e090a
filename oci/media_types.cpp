#include "oci/media_types.hpp"

namespace strata::oci::media {

LayerCompression layer_compression(std::string_view media_type) noexcept {
  if (media_type == k_oci_layer_tar || media_type == k_oci_layer_nondist_tar ||
      media_type == "application/vnd.docker.image.rootfs.diff.tar") {
    return LayerCompression::None;
  }
  if (media_type == k_oci_layer_gzip || media_type == k_oci_layer_nondist_gzip ||
      media_type == k_docker_layer_gzip || media_type == k_docker_layer_foreign_gzip) {
    return LayerCompression::Gzip;
  }
  if (media_type == k_oci_layer_zstd || media_type == k_oci_layer_nondist_zstd) {
    return LayerCompression::Zstd;
  }
  return LayerCompression::Unknown;
}

bool is_manifest(std::string_view media_type) noexcept {
  return media_type == k_oci_manifest || media_type == k_docker_manifest;
}

bool is_index(std::string_view media_type) noexcept {
  return media_type == k_oci_index || media_type == k_docker_manifest_list;
}

bool is_layer(std::string_view media_type) noexcept {
  return layer_compression(media_type) != LayerCompression::Unknown;
}

}  // namespace strata::oci::media
