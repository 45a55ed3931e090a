// unpack_layer(): streams a (compressed) layer through libarchive into LayerApplier.
//
// libarchive only parses: it reads the util::Source through callbacks (a 1 MiB buffer;
// an exception from the source is parked and rethrown once libarchive gives up, never
// thrown through C frames), detects gzip/zstd/none by magic (only those filters and the
// tar format are enabled, to keep the parser surface small) and hands over headers and
// data blocks. By default the layer is decompressed on a second thread first
// (PipelinedDecompressor) so that decompression overlaps the file writes, as in
// `zstd -dc | tar -x`; libarchive then sees plain tar. All writing is LayerApplier's (no
// archive_write_disk). This file adds the checks that need the stream: entry count, the size of the
// extended headers in front of each entry (PAX/GNU; measured from header offsets, since libarchive
// does not expose them; libarchive itself refuses one larger than 1 MiB, which is reported as
// ours), libarchive warnings (only "can't be converted" charset warnings are tolerated: names are
// then kept as raw bytes; any other warning, such as a malformed PAX record, is an error because
// parsers that disagree on a header are an attack vector), and the error prefix "layer <digest>:
// entry '<path>': " on every error.
#include "oci/unpacker.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "oci/layer_applier.hpp"
#include "oci/media_types.hpp"
#include "oci/pipelined_source.hpp"
#include "oci/safe_path.hpp"
#include "util/error.hpp"

namespace strata::oci {

namespace {

using util::ErrorKind;

struct ArchiveFree {
  void operator()(archive* a) const noexcept { archive_read_free(a); }
};

struct ReadContext {
  util::Source* source = nullptr;
  std::vector<char> buffer;
  std::exception_ptr error;
  bool eof = false;
};

la_ssize_t read_callback(archive* a, void* client, const void** out) {
  auto* ctx = static_cast<ReadContext*>(client);
  try {
    const std::size_t n = ctx->source->read(ctx->buffer.data(), ctx->buffer.size());
    ctx->eof = n == 0;
    *out = ctx->buffer.data();
    return static_cast<la_ssize_t>(n);
  } catch (...) {
    ctx->error = std::current_exception();
    archive_set_error(a, EIO, "reading the layer failed");
    return -1;
  }
}

std::string archive_message(archive* a) {
  const char* msg = archive_error_string(a);
  return msg != nullptr ? msg : "unknown libarchive error";
}

// Rethrows an error parked by read_callback with the layer prefix.
void rethrow_source_error(const ReadContext& ctx, const std::string& prefix) {
  try {
    std::rethrow_exception(ctx.error);
  } catch (const util::Error& e) {
    throw util::Error(e.kind(), prefix + e.what());
  }
}

}  // namespace

UnpackStats unpack_layer(const std::filesystem::path& root, util::Source& layer,
                         const std::string& media_type, const Digest& layer_digest,
                         const UnpackOptions& options) {
  const std::string prefix =
      layer_digest.empty() ? std::string("layer: ") : "layer " + layer_digest.str() + ": ";
  if (!media_type.empty() &&
      media::layer_compression(media_type) == media::LayerCompression::Unknown) {
    util::fail(ErrorKind::Unsupported,
               prefix + "unsupported media type '" + media_type +
                   "' (expected an OCI or Docker layer: tar, tar+gzip or tar+zstd)");
  }

  std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
  if (!a) {
    util::fail(ErrorKind::Internal, prefix + "cannot allocate a libarchive reader");
  }
  archive_read_support_filter_none(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_empty(a.get());

  std::unique_ptr<LayerApplier> applier;
  try {
    applier = std::make_unique<LayerApplier>(root, options);
  } catch (const util::Error& e) {
    throw util::Error(e.kind(), prefix + e.what());
  }

  std::optional<PipelinedDecompressor> pipe;
  if (options.pipeline_decompression) {
    pipe.emplace(layer);
  }
  ReadContext ctx;
  ctx.source = pipe ? static_cast<util::Source*>(&*pipe) : &layer;
  ctx.buffer.resize(1 << 20);
  if (archive_read_open(a.get(), &ctx, nullptr, read_callback, nullptr) != ARCHIVE_OK) {
    if (ctx.error) {
      rethrow_source_error(ctx, prefix);
    }
    util::fail(
        ErrorKind::InvalidInput,
        prefix + "not a tar archive (or an unsupported compression): " + archive_message(a.get()));
  }

  std::string last = "";  // previous entry, to place errors in headers we cannot parse
  std::uint64_t count = 0;
  for (;;) {
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a.get(), &entry);
    if (ctx.error) {
      rethrow_source_error(ctx, prefix);
    }
    if (r == ARCHIVE_EOF) {
      break;
    }
    const std::string where = last.empty() ? "first entry" : "entry after " + quote_path(last);
    if (r != ARCHIVE_OK) {
      const std::string msg = archive_message(a.get());
      if (r < ARCHIVE_WARN) {
        if (msg.find("too large") != std::string::npos) {
          util::fail(
              ErrorKind::InvalidInput,
              prefix + where + ": extended (PAX/GNU) header is larger than 1 MiB (" + msg + ")");
        }
        const bool truncated = msg.find("runcated") != std::string::npos;
        util::fail(truncated ? ErrorKind::Corruption : ErrorKind::InvalidInput,
                   prefix + where + ": " +
                       (truncated ? "layer is truncated: " : "invalid tar header: ") + msg);
      }
      if (msg.find("can't be converted") == std::string::npos) {
        util::fail(ErrorKind::InvalidInput, prefix + where + ": invalid tar header: " + msg);
      }
    }
    const char* raw = archive_entry_pathname(entry);
    const std::string path = raw != nullptr ? raw : "";
    const std::string name = prefix + "entry " + quote_path(path) + ": ";
    if (++count > options.max_entries) {
      util::fail(ErrorKind::InvalidInput, name + "layer has more than " +
                                              std::to_string(options.max_entries) +
                                              " entries, the limit");
    }
    const la_int64_t header_start = archive_read_header_position(a.get());
    const la_int64_t header_end = archive_filter_bytes(a.get(), 0);
    if (header_start >= 0 &&
        header_end - header_start - 512 > static_cast<la_int64_t>(options.max_pax_header_size)) {
      util::fail(ErrorKind::InvalidInput, name + "extended (PAX/GNU) headers of " +
                                              std::to_string(header_end - header_start - 512) +
                                              " bytes, more than the limit of " +
                                              std::to_string(options.max_pax_header_size));
    }
    try {
      applier->apply(a.get(), entry);
    } catch (const util::Error& e) {
      if (ctx.error) {
        rethrow_source_error(ctx, name);
      }
      throw util::Error(e.kind(), name + e.what());
    }
    last = path;
  }
  try {
    applier->finish();
  } catch (const util::Error& e) {
    throw util::Error(e.kind(), prefix + e.what());
  }
  UnpackStats stats = applier->stats();
  a.reset();
  // Read what libarchive left (end padding, trailing bytes) so that a verifying source
  // sees the whole blob and can check its digest.
  try {
    if (pipe) {
      pipe->drain();
    } else {
      while (!ctx.eof && layer.read(ctx.buffer.data(), ctx.buffer.size()) > 0) {
      }
    }
  } catch (const util::Error& e) {
    throw util::Error(e.kind(), prefix + e.what());
  }
  return stats;
}

}  // namespace strata::oci
