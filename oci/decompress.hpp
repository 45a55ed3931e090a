// Streaming decompression of layer blobs: a util::Source that reads compressed bytes from
// another Source and yields the uncompressed tar. gzip goes through zlib (concatenated
// members are accepted, as Go's gzip reader and GNU gzip do), zstd through libzstd's
// streaming API (several frames accepted, window limited to libzstd's default 128 MiB), and
// an uncompressed tar passes through. Memory is bounded by fixed buffers whatever the size.
// Truncated or corrupt input throws Corruption naming the blob.
#pragma once

#include <memory>
#include <string>

#include "oci/media_types.hpp"
#include "util/io.hpp"

namespace strata::oci {

/// Decompresses `inner` (which it borrows; it must outlive this object). Not thread-safe;
/// not copyable. `name` (e.g. the blob digest) appears in errors. Throws Unsupported for
/// LayerCompression::Unknown.
class DecompressingSource final : public util::Source {
 public:
  DecompressingSource(util::Source& inner, media::LayerCompression compression, std::string name);
  DecompressingSource(const DecompressingSource&) = delete;
  DecompressingSource& operator=(const DecompressingSource&) = delete;
  ~DecompressingSource() override;

  std::size_t read(void* data, std::size_t size) override;

  /// Compressed bytes consumed from `inner` so far.
  [[nodiscard]] std::uint64_t compressed_bytes() const noexcept { return m_consumed; }

  class Impl;

 private:
  util::Source& m_inner;
  std::string m_name;
  std::unique_ptr<Impl> m_impl;  // nullptr for pass-through
  std::uint64_t m_consumed = 0;
};

/// An owning variant: decompresses `inner` and keeps it alive. Thread-safety as above.
std::unique_ptr<util::Source> open_decompressed(std::unique_ptr<util::Source> inner,
                                                media::LayerCompression compression,
                                                std::string name);

}  // namespace strata::oci
