#include "oci/decompress.hpp"

#include <zlib.h>
#include <zstd.h>

#include <vector>

#include "util/error.hpp"

namespace strata::oci {
namespace {

constexpr std::size_t k_in_buffer = 64 * 1024;

[[noreturn]] void corrupt(const std::string& name, const std::string& what) {
  util::fail(util::ErrorKind::Corruption, "layer " + name + ": " + what +
                                              "; the blob is damaged, fetch it again");
}

}  // namespace

// One decoder; the input buffer is refilled from the inner source when it runs dry.
class DecompressingSource::Impl {
 public:
  virtual ~Impl() = default;
  virtual std::size_t read(util::Source& inner, std::uint64_t& consumed, void* out,
                           std::size_t size, const std::string& name) = 0;

 protected:
  // Refills the input buffer; returns false at the end of the inner stream.
  bool refill(util::Source& inner, std::uint64_t& consumed) {
    const std::size_t n = inner.read(m_in.data(), m_in.size());
    m_in_pos = 0;
    m_in_len = n;
    consumed += n;
    return n > 0;
  }
  std::vector<unsigned char> m_in = std::vector<unsigned char>(k_in_buffer);
  std::size_t m_in_pos = 0;
  std::size_t m_in_len = 0;
  bool m_eof = false;
};

namespace {

class GzipImpl final : public DecompressingSource::Impl {
 public:
  explicit GzipImpl(const std::string& name) {
    if (inflateInit2(&m_z, 15 + 16) != Z_OK) {
      util::fail(util::ErrorKind::Internal, "layer " + name + ": cannot initialise zlib");
    }
  }
  ~GzipImpl() override { inflateEnd(&m_z); }
  GzipImpl(const GzipImpl&) = delete;
  GzipImpl& operator=(const GzipImpl&) = delete;

  std::size_t read(util::Source& inner, std::uint64_t& consumed, void* out, std::size_t size,
                   const std::string& name) override {
    if (size == 0 || m_done) {
      return 0;
    }
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(size, 1U << 30));
    m_z.next_out = static_cast<Bytef*>(out);
    m_z.avail_out = chunk;
    while (m_z.avail_out == chunk) {
      if (m_in_pos == m_in_len) {
        if (!refill(inner, consumed)) {
          if (m_member_ended) {
            m_done = true;  // clean end after a complete member
            return 0;
          }
          corrupt(name, "gzip data is truncated");
        }
      }
      if (m_member_ended) {
        // More input after a complete member: another concatenated member follows.
        inflateReset(&m_z);
        m_member_ended = false;
      }
      m_z.next_in = m_in.data() + m_in_pos;
      m_z.avail_in = static_cast<uInt>(m_in_len - m_in_pos);
      const int rc = inflate(&m_z, Z_NO_FLUSH);
      m_in_pos = m_in_len - m_z.avail_in;
      if (rc == Z_STREAM_END) {
        m_member_ended = true;
        if (m_z.avail_out != chunk) {
          break;
        }
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        corrupt(name, std::string("gzip data is invalid (") +
                          (m_z.msg != nullptr ? m_z.msg : "zlib error " + std::to_string(rc)) +
                          ")");
      }
    }
    return chunk - m_z.avail_out;
  }

 private:
  z_stream m_z{};
  bool m_member_ended = false;
  bool m_done = false;
};

class ZstdImpl final : public DecompressingSource::Impl {
 public:
  explicit ZstdImpl(const std::string& name) : m_ctx(ZSTD_createDCtx()) {
    if (!m_ctx) {
      util::fail(util::ErrorKind::Internal, "layer " + name + ": cannot allocate a zstd context");
    }
  }

  std::size_t read(util::Source& inner, std::uint64_t& consumed, void* out, std::size_t size,
                   const std::string& name) override {
    if (size == 0 || m_done) {
      return 0;
    }
    ZSTD_outBuffer ob{out, size, 0};
    while (ob.pos == 0) {
      if (m_in_pos == m_in_len && !m_frame_pending_output) {
        if (!refill(inner, consumed)) {
          if (m_frame_open || !m_any_input) {
            corrupt(name, m_any_input ? "zstd data is truncated" : "zstd data is empty");
          }
          m_done = true;
          return 0;
        }
      }
      m_any_input = true;
      ZSTD_inBuffer ib{m_in.data(), m_in_len, m_in_pos};
      const std::size_t rc = ZSTD_decompressStream(m_ctx.get(), &ob, &ib);
      if (ZSTD_isError(rc) != 0U) {
        corrupt(name, std::string("zstd data is invalid (") + ZSTD_getErrorName(rc) + ")");
      }
      m_in_pos = ib.pos;
      m_frame_open = rc != 0;
      // A full output buffer may leave decoded bytes inside zstd; call again before refilling.
      m_frame_pending_output = ob.pos == ob.size;
    }
    return ob.pos;
  }

 private:
  struct Free {
    void operator()(ZSTD_DCtx* c) const noexcept { ZSTD_freeDCtx(c); }
  };
  std::unique_ptr<ZSTD_DCtx, Free> m_ctx;
  bool m_frame_open = false;
  bool m_frame_pending_output = false;
  bool m_any_input = false;
  bool m_done = false;
};

class OwningSource final : public util::Source {
 public:
  OwningSource(std::unique_ptr<util::Source> inner, media::LayerCompression compression,
               std::string name)
      : m_inner(std::move(inner)), m_source(*m_inner, compression, std::move(name)) {}
  std::size_t read(void* data, std::size_t size) override { return m_source.read(data, size); }

 private:
  std::unique_ptr<util::Source> m_inner;
  DecompressingSource m_source;
};

}  // namespace

DecompressingSource::DecompressingSource(util::Source& inner, media::LayerCompression compression,
                                         std::string name)
    : m_inner(inner), m_name(std::move(name)) {
  switch (compression) {
    case media::LayerCompression::None:
      break;
    case media::LayerCompression::Gzip:
      m_impl = std::make_unique<GzipImpl>(m_name);
      break;
    case media::LayerCompression::Zstd:
      m_impl = std::make_unique<ZstdImpl>(m_name);
      break;
    case media::LayerCompression::Unknown:
      util::fail(util::ErrorKind::Unsupported,
                 "layer " + m_name + ": unknown compression; strata reads uncompressed, gzip and "
                                     "zstd tar layers");
  }
}

DecompressingSource::~DecompressingSource() = default;

std::size_t DecompressingSource::read(void* data, std::size_t size) {
  if (!m_impl) {
    const std::size_t n = m_inner.read(data, size);
    m_consumed += n;
    return n;
  }
  return m_impl->read(m_inner, m_consumed, data, size, m_name);
}

std::unique_ptr<util::Source> open_decompressed(std::unique_ptr<util::Source> inner,
                                                media::LayerCompression compression,
                                                std::string name) {
  return std::make_unique<OwningSource>(std::move(inner), compression, std::move(name));
}

}  // namespace strata::oci
