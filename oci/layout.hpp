// OCI image layout directories (image-spec "image-layout.md"): oci-layout, index.json and
// blobs/<alg>/<hex>. Images are named by the org.opencontainers.image.ref.name annotation
// on their index.json entry, which is what `skopeo ... oci:DIR:TAG` uses.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "oci/image.hpp"
#include "util/io.hpp"

namespace strata::oci {

inline constexpr std::string_view k_ref_name_annotation = "org.opencontainers.image.ref.name";

/// Writes into a layout directory, creating it or adding to an existing one. Blobs are
/// written atomically (temp + rename) and verified against their digest; index.json is
/// rewritten atomically by commit(). An existing entry with the same ref name is replaced.
/// Not thread-safe.
class LayoutWriter {
 public:
  explicit LayoutWriter(std::filesystem::path dir);
  [[nodiscard]] bool has_blob(const Digest& digest) const;
  /// Streams a blob; throws Corruption (and leaves nothing) if the content's digest differs.
  void add_blob(const Digest& digest, util::Source& content);
  void add_blob(const Digest& digest, std::string_view content);
  /// Adds (or replaces by ref name) a manifest/index descriptor in index.json. An empty
  /// ref name adds it unnamed.
  void add_manifest(const Descriptor& descriptor, const std::string& ref_name);
  /// Writes oci-layout and index.json.
  void commit();

 private:
  std::filesystem::path m_dir;
  Index m_index;
};

/// Reads a layout directory. Throws NotFound / InvalidInput naming the directory.
class LayoutReader {
 public:
  explicit LayoutReader(std::filesystem::path dir);
  [[nodiscard]] const Index& index() const noexcept { return m_index; }
  /// The descriptor for a ref name; with an empty name, the only entry (error if several).
  [[nodiscard]] Descriptor resolve(const std::string& ref_name) const;
  [[nodiscard]] std::filesystem::path blob_path(const Digest& digest) const;
  [[nodiscard]] bool has_blob(const Digest& digest) const;
  /// Reads a whole blob and verifies its digest (Corruption on mismatch).
  [[nodiscard]] std::string read_blob(const Digest& digest) const;
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return m_dir; }

 private:
  std::filesystem::path m_dir;
  Index m_index;
};

/// Splits "DIR[:NAME]" as used by `oci:DIR:NAME`. Like skopeo's oci: transport on Unix, the
/// directory ends at the first ':' and the rest, which may hold '/' and ':', is the image
/// name ("./a:b/dir:tag" -> {"./a", "b/dir:tag"}); no ':' means no name.
std::pair<std::filesystem::path, std::string> split_layout_ref(const std::string& text);

}  // namespace strata::oci
