// Internal to the layer writer: the streaming chain every layer goes through,
//   TarWriter -> sha256 (diff_id) -> AsyncSink ~> compressor -> sha256 (digest) -> caller's sink,
// so that both digests come out of one pass over the bytes. The AsyncSink moves compression
// feeding, the blob hash and the output to a second thread ('~>'), so that walking, reading
// and hashing the input overlap with it. Without compression the tar goes straight out.
#pragma once

#include <memory>

#include "oci/async_sink.hpp"
#include "oci/compress.hpp"
#include "oci/layer_writer.hpp"
#include "oci/tar_writer.hpp"
#include "util/hash.hpp"

namespace strata::oci::detail {

/// Validates `options` (InvalidInput naming the bad option) and builds the chain into `out`.
/// Not thread-safe; `out` must outlive it. Nothing is final until finish().
class LayerPipeline {
 public:
  LayerPipeline(const LayerOptions& options, util::Sink& out);
  LayerPipeline(const LayerPipeline&) = delete;
  LayerPipeline& operator=(const LayerPipeline&) = delete;

  /// Where entries go. Count each entry with count_entry().
  TarWriter& tar() noexcept { return m_tar; }
  void count_entry() noexcept { ++m_entries; }
  /// Ends the tar and the compressed stream; returns digests and sizes.
  LayerResult finish();

 private:
  Compression m_compression;
  util::HashingSink m_blob_hash;                  // compressed bytes -> out
  std::unique_ptr<CompressingSink> m_compressor;  // null for Compression::None
  std::unique_ptr<AsyncSink> m_async;             // -> compressor; null without one
  util::HashingSink m_diff_hash;                  // tar bytes -> async (or out)
  TarWriter m_tar;
  std::uint64_t m_entries = 0;
};

/// min(mtime, source_date_epoch).
inline std::int64_t clamp_mtime(std::int64_t mtime, const LayerOptions& options) noexcept {
  return mtime < options.source_date_epoch ? mtime : options.source_date_epoch;
}

}  // namespace strata::oci::detail
