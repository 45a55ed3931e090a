// Test helper for the unpacker tests: a temp directory holding the unpack root and, next
// to it, a sentinel directory that no layer may ever touch.
#pragma once

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>

#include "oci/digest.hpp"
#include "oci/media_types.hpp"
#include "oci/unpacker.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/io.hpp"

namespace strata::test {

namespace fs = std::filesystem;

/// base/root (the unpack root) and base/outside (a sentinel holding only "keep").
class UnpackSandbox {
 public:
  UnpackSandbox() : m_tmp("strata-unpack") {
    fs::create_directory(root());
    fs::create_directory(outside());
    util::write_file_atomic(outside() / "keep", "sentinel");
  }
  [[nodiscard]] fs::path base() const { return m_tmp.path(); }
  [[nodiscard]] fs::path root() const { return m_tmp.path() / "root"; }
  [[nodiscard]] fs::path outside() const { return m_tmp.path() / "outside"; }

  /// Unpacks an uncompressed tar (or `media` as given) into root.
  oci::UnpackStats unpack(const std::string& blob, const oci::UnpackOptions& options = {},
                          std::string_view media = oci::media::k_oci_layer_tar) const {
    util::StringSource source(blob);
    return oci::unpack_layer(root(), source, std::string(media), oci::Digest::of(blob), options);
  }

  /// The sentinel and the temp directory hold exactly what they held at the start.
  void require_outside_untouched() const {
    std::set<std::string> in_base;
    for (const auto& e : fs::directory_iterator(base())) {
      in_base.insert(e.path().filename().string());
    }
    REQUIRE(in_base == std::set<std::string>{"outside", "root"});
    std::set<std::string> in_outside;
    for (const auto& e : fs::directory_iterator(outside())) {
      in_outside.insert(e.path().filename().string());
    }
    REQUIRE(in_outside == std::set<std::string>{"keep"});
    REQUIRE(util::read_file(outside() / "keep") == "sentinel");
    struct stat st {};
    REQUIRE(::lstat((outside() / "keep").c_str(), &st) == 0);
    REQUIRE(st.st_nlink == 1);  // nobody hardlinked it into the root
  }

 private:
  util::TempDir m_tmp;
};

/// True when `path` exists without following a last symlink.
inline bool exists_nofollow(const fs::path& path) {
  return fs::exists(fs::symlink_status(path));
}

}  // namespace strata::test
