#include "oci/compress.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <string>
#include <thread>

#include "util/error.hpp"

namespace strata::oci {
namespace {

constexpr std::size_t k_out_size = std::size_t{1} << 20;
constexpr std::size_t k_max_zlib_chunk = std::size_t{1} << 30;  // avail_in is a 32-bit uInt

void check_zstd(std::size_t rc, const char* what) {
  if (ZSTD_isError(rc) != 0U) {
    util::fail(util::ErrorKind::Internal,
               std::string("zstd: ") + what + ": " + ZSTD_getErrorName(rc));
  }
}

}  // namespace

int default_zstd_workers() noexcept {
  const unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(n, 1U, 4U));
}

void ZstdSink::CtxDeleter::operator()(ZSTD_CCtx_s* ctx) const noexcept { ZSTD_freeCCtx(ctx); }

ZstdSink::ZstdSink(util::Sink& next, int level, int workers)
    : m_next(next), m_ctx(ZSTD_createCCtx()), m_out(k_out_size) {
  if (!m_ctx) {
    util::fail(util::ErrorKind::Internal, "zstd: cannot allocate a compression context");
  }
  if (level < 1 || level > ZSTD_maxCLevel()) {
    util::fail(util::ErrorKind::InvalidInput,
               "zstd compression level " + std::to_string(level) + " is out of range; use 1.." +
                   std::to_string(ZSTD_maxCLevel()));
  }
  if (workers < 1 || workers > 256) {
    util::fail(util::ErrorKind::InvalidInput, "zstd worker count " + std::to_string(workers) +
                                                  " is out of range; use 1..256");
  }
  check_zstd(ZSTD_CCtx_setParameter(m_ctx.get(), ZSTD_c_compressionLevel, level), "level");
  check_zstd(ZSTD_CCtx_setParameter(m_ctx.get(), ZSTD_c_checksumFlag, 1), "checksum flag");
  check_zstd(ZSTD_CCtx_setParameter(m_ctx.get(), ZSTD_c_contentSizeFlag, 0), "content size");
  const std::size_t rc = ZSTD_CCtx_setParameter(m_ctx.get(), ZSTD_c_nbWorkers, workers);
  if (ZSTD_isError(rc) != 0U) {
    // Falling back to single-threaded mode would change the output bytes: refuse instead.
    util::fail(util::ErrorKind::Unsupported,
               std::string("zstd: this libzstd cannot compress with worker threads (") +
                   ZSTD_getErrorName(rc) + "); install a multi-threaded libzstd");
  }
}

ZstdSink::~ZstdSink() = default;

void ZstdSink::drain_output(bool force) {
  if (m_out_fill > 0 && (force || m_out.size() - m_out_fill < ZSTD_CStreamOutSize())) {
    m_next.write(m_out.data(), m_out_fill);
    m_out_fill = 0;
  }
}

void ZstdSink::write(const void* data, std::size_t size) {
  if (m_finished) {
    util::fail(util::ErrorKind::Internal, "zstd: write after finish");
  }
  ZSTD_inBuffer in{data, size, 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer out{m_out.data() + m_out_fill, m_out.size() - m_out_fill, 0};
    check_zstd(ZSTD_compressStream2(m_ctx.get(), &out, &in, ZSTD_e_continue), "compress");
    m_out_fill += out.pos;
    drain_output(false);
  }
}

void ZstdSink::finish() {
  if (m_finished) {
    return;
  }
  ZSTD_inBuffer in{nullptr, 0, 0};
  for (;;) {
    ZSTD_outBuffer out{m_out.data() + m_out_fill, m_out.size() - m_out_fill, 0};
    const std::size_t left = ZSTD_compressStream2(m_ctx.get(), &out, &in, ZSTD_e_end);
    check_zstd(left, "end of frame");
    m_out_fill += out.pos;
    drain_output(left == 0);
    if (left == 0) {
      break;
    }
  }
  m_finished = true;
}

GzipSink::GzipSink(util::Sink& next, int level)
    : m_next(next),
      m_stream(std::make_unique<z_stream>()),
      m_header(std::make_unique<gz_header>()),
      m_out(k_out_size) {
  if (level < 1 || level > 9) {
    util::fail(util::ErrorKind::InvalidInput,
               "gzip compression level " + std::to_string(level) + " is out of range; use 1..9");
  }
  if (deflateInit2(m_stream.get(), level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    util::fail(util::ErrorKind::Internal, "zlib: deflateInit2 failed");
  }
  m_initialised = true;
  m_header->text = 0;
  m_header->time = 0;
  m_header->os = 255;
  m_header->extra = Z_NULL;
  m_header->name = Z_NULL;
  m_header->comment = Z_NULL;
  m_header->hcrc = 0;
  if (deflateSetHeader(m_stream.get(), m_header.get()) != Z_OK) {
    util::fail(util::ErrorKind::Internal, "zlib: deflateSetHeader failed");
  }
}

GzipSink::~GzipSink() {
  if (m_initialised) {
    deflateEnd(m_stream.get());
  }
}

void GzipSink::run(int flush_mode, const void* data, std::size_t size) {
  // zlib's next_in is not const-qualified but is never written through.
  m_stream->next_in = static_cast<Bytef*>(const_cast<void*>(data));
  m_stream->avail_in = static_cast<uInt>(size);
  for (;;) {
    m_stream->next_out = m_out.data();
    m_stream->avail_out = static_cast<uInt>(m_out.size());
    const int rc = deflate(m_stream.get(), flush_mode);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      util::fail(util::ErrorKind::Internal, "zlib: deflate failed (" + std::to_string(rc) + ")");
    }
    const std::size_t produced = m_out.size() - m_stream->avail_out;
    if (produced > 0) {
      m_next.write(m_out.data(), produced);
    }
    if (flush_mode == Z_FINISH ? rc == Z_STREAM_END
                               : (m_stream->avail_in == 0 && m_stream->avail_out != 0)) {
      return;
    }
  }
}

void GzipSink::write(const void* data, std::size_t size) {
  if (m_finished) {
    util::fail(util::ErrorKind::Internal, "gzip: write after finish");
  }
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const std::size_t n = std::min(size, k_max_zlib_chunk);
    run(Z_NO_FLUSH, p, n);
    p += n;
    size -= n;
  }
}

void GzipSink::finish() {
  if (m_finished) {
    return;
  }
  run(Z_FINISH, nullptr, 0);
  m_finished = true;
}

}  // namespace strata::oci
