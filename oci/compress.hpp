// Compressing sinks for layers: bytes written in come out compressed into another Sink.
//
// Both are configured so that the output is a pure function of the input bytes, the level
// and (for zstd) nothing else:
//  - ZstdSink always runs zstd's multi-threaded mode (nbWorkers >= 1), never the
//    single-threaded one: in multi-threaded mode the input is cut into jobs by size only, so
//    the frame is identical for 1, 2 or 16 workers, and the worker count (which defaults to
//    the machine's CPUs) never changes a digest. The checksum flag is on, the content size
//    is not written (it is unknown when streaming), no dictionary is used.
//  - GzipSink writes a gzip member through zlib (deflateInit2, windowBits 31) with a fixed
//    header: no file name, no comment, mtime 0, OS byte 255 ("unknown", as Go's
//    compress/gzip writes it, so the bytes do not depend on the building OS).
// Output is produced in large chunks; call finish() to end the stream, without it the
// output is incomplete (the destructor only frees memory, it never writes).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "util/io.hpp"

struct ZSTD_CCtx_s;
struct z_stream_s;
struct gz_header_s;

namespace strata::oci {

/// A Sink that compresses into another Sink. Not thread-safe; `next` must outlive it.
class CompressingSink : public util::Sink {
 public:
  using util::Sink::write;
  /// Ends the compressed stream and flushes everything to the next sink. Call once.
  virtual void finish() = 0;
};

/// zstd compressor (see the file comment). Not thread-safe (uses worker threads internally).
class ZstdSink final : public CompressingSink {
 public:
  /// `level` 1..22; `workers` >= 1 compression threads. Throws InvalidInput on a bad level
  /// or worker count, Unsupported if libzstd was built without multi-threading.
  ZstdSink(util::Sink& next, int level, int workers);
  ~ZstdSink() override;
  ZstdSink(const ZstdSink&) = delete;
  ZstdSink& operator=(const ZstdSink&) = delete;

  void write(const void* data, std::size_t size) override;
  void finish() override;

 private:
  struct CtxDeleter {
    void operator()(ZSTD_CCtx_s* ctx) const noexcept;
  };
  void drain_output(bool force);
  util::Sink& m_next;
  std::unique_ptr<ZSTD_CCtx_s, CtxDeleter> m_ctx;
  std::vector<char> m_out;
  std::size_t m_out_fill = 0;
  bool m_finished = false;
};

/// gzip compressor (see the file comment). Not thread-safe.
class GzipSink final : public CompressingSink {
 public:
  /// `level` 1..9. Throws InvalidInput on a bad level.
  GzipSink(util::Sink& next, int level);
  ~GzipSink() override;
  GzipSink(const GzipSink&) = delete;
  GzipSink& operator=(const GzipSink&) = delete;

  void write(const void* data, std::size_t size) override;
  void finish() override;

 private:
  void run(int flush_mode, const void* data, std::size_t size);
  util::Sink& m_next;
  std::unique_ptr<z_stream_s> m_stream;
  std::unique_ptr<gz_header_s> m_header;  // zlib keeps a pointer to it until written
  std::vector<unsigned char> m_out;
  bool m_initialised = false;
  bool m_finished = false;
};

/// The zstd worker count used when the caller asks for 0: min(CPUs, 4), at least 1.
int default_zstd_workers() noexcept;

}  // namespace strata::oci
