// Media types of the OCI image-spec and of Docker's v2 schema2 (read-only support).
#pragma once

#include <string_view>

namespace strata::oci::media {

inline constexpr std::string_view k_oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view k_oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view k_oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view k_oci_layer_tar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view k_oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view k_oci_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view k_oci_layer_nondist_tar =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view k_oci_layer_nondist_gzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view k_oci_layer_nondist_zstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
inline constexpr std::string_view k_oci_empty = "application/vnd.oci.empty.v1+json";

inline constexpr std::string_view k_docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view k_docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view k_docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view k_docker_layer_gzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view k_docker_layer_foreign_gzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Compression of a layer media type (OCI or Docker).
enum class LayerCompression { None, Gzip, Zstd, Unknown };
LayerCompression layer_compression(std::string_view media_type) noexcept;

bool is_manifest(std::string_view media_type) noexcept;  // OCI or Docker single manifest
bool is_index(std::string_view media_type) noexcept;     // OCI index or Docker manifest list
bool is_layer(std::string_view media_type) noexcept;

}  // namespace strata::oci::media
