#include "oci/pipelined_source.hpp"

#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <memory>
#include <string>

#include "util/error.hpp"

namespace strata::oci {

namespace {

constexpr std::size_t k_chunk = 1 << 20;
constexpr std::size_t k_queue_chunks = 8;

struct Stopping {};  // unwinds the producer when the consumer went away

struct InnerError {  // an error of the inner source (kept apart from decoding errors)
  std::exception_ptr error;
};

struct DStreamFree {
  void operator()(ZSTD_DStream* s) const noexcept { ZSTD_freeDStream(s); }
};

struct InflateEnd {
  void operator()(z_stream* z) const noexcept {
    inflateEnd(z);
    delete z;
  }
};

}  // namespace

PipelinedDecompressor::PipelinedDecompressor(util::Source& inner)
    : m_inner(inner), m_thread([this] { run(); }) {}

PipelinedDecompressor::~PipelinedDecompressor() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_cv.notify_all();
  m_thread.join();
}

void PipelinedDecompressor::run() noexcept {
  std::exception_ptr error;
  bool from_inner = false;
  try {
    produce();
  } catch (const Stopping&) {
  } catch (const InnerError& e) {
    error = e.error;
    from_inner = true;
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::lock_guard lock(m_mutex);
    m_done = true;
    m_error = error;
    m_drain = !from_inner && error;  // the inner source was not read to its end
  }
  m_cv.notify_all();
}

void PipelinedDecompressor::push(std::vector<char> chunk) {
  std::unique_lock lock(m_mutex);
  m_cv.wait(lock, [this] { return m_queue.size() < k_queue_chunks || m_stopping; });
  if (m_stopping) {
    throw Stopping{};
  }
  m_queue.push_back(std::move(chunk));
  lock.unlock();
  m_cv.notify_all();
}

void PipelinedDecompressor::produce() {
  std::vector<char> in(k_chunk);
  auto read_inner = [&](std::size_t at) -> std::size_t {
    try {
      return m_inner.read(in.data() + at, in.size() - at);
    } catch (...) {
      throw InnerError{std::current_exception()};
    }
  };
  // Enough bytes to see the magic.
  std::size_t n = 0;
  bool eof = false;
  while (n < 4 && !eof) {
    const std::size_t got = read_inner(n);
    eof = got == 0;
    n += got;
  }
  const auto* b = reinterpret_cast<const unsigned char*>(in.data());
  const bool is_zstd = n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd;
  const bool is_gzip = n >= 2 && b[0] == 0x1f && b[1] == 0x8b;

  if (!is_zstd && !is_gzip) {
    while (n > 0) {
      push(std::vector<char>(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n)));
      n = read_inner(0);
    }
    return;
  }
  if (is_zstd) {
    std::unique_ptr<ZSTD_DStream, DStreamFree> ds(ZSTD_createDStream());
    if (!ds) {
      throw std::bad_alloc();
    }
    std::size_t last = 0;
    while (n > 0) {
      ZSTD_inBuffer input{in.data(), n, 0};
      while (input.pos < input.size) {
        std::vector<char> out(k_chunk);
        ZSTD_outBuffer output{out.data(), out.size(), 0};
        last = ZSTD_decompressStream(ds.get(), &output, &input);
        if (ZSTD_isError(last)) {
          util::fail(util::ErrorKind::Corruption,
                     std::string("zstd data is corrupt: ") + ZSTD_getErrorName(last));
        }
        if (output.pos > 0) {
          out.resize(output.pos);
          push(std::move(out));
        }
      }
      n = read_inner(0);
    }
    if (last != 0) {
      util::fail(util::ErrorKind::Corruption, "zstd data is truncated");
    }
    return;
  }
  std::unique_ptr<z_stream, InflateEnd> z(new z_stream{});
  if (inflateInit2(z.get(), 15 + 32) != Z_OK) {
    delete z.release();
    throw std::bad_alloc();
  }
  bool at_end = false;
  while (n > 0) {
    z->next_in = reinterpret_cast<Bytef*>(in.data());
    z->avail_in = static_cast<uInt>(n);
    while (z->avail_in > 0) {
      if (at_end) {  // another gzip member follows
        inflateReset(z.get());
        at_end = false;
      }
      std::vector<char> out(k_chunk);
      z->next_out = reinterpret_cast<Bytef*>(out.data());
      z->avail_out = static_cast<uInt>(out.size());
      const int rc = inflate(z.get(), Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        util::fail(util::ErrorKind::Corruption,
                   std::string("gzip data is corrupt: ") + (z->msg ? z->msg : "inflate failed"));
      }
      at_end = rc == Z_STREAM_END;
      const std::size_t produced = out.size() - z->avail_out;
      if (produced > 0) {
        out.resize(produced);
        push(std::move(out));
      }
    }
    n = read_inner(0);
  }
  if (!at_end) {
    util::fail(util::ErrorKind::Corruption, "gzip data is truncated");
  }
}

std::size_t PipelinedDecompressor::read(void* data, std::size_t size) {
  if (m_offset == m_current.size()) {
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [this] { return !m_queue.empty() || m_done; });
    if (m_queue.empty()) {
      if (m_error) {
        std::rethrow_exception(m_error);
      }
      return 0;
    }
    m_current = std::move(m_queue.front());
    m_queue.pop_front();
    m_offset = 0;
    lock.unlock();
    m_cv.notify_all();
  }
  const std::size_t n = std::min(size, m_current.size() - m_offset);
  std::memcpy(data, m_current.data() + m_offset, n);
  m_offset += n;
  return n;
}

void PipelinedDecompressor::drain() {
  {
    std::unique_lock lock(m_mutex);
    for (;;) {
      m_queue.clear();
      m_cv.notify_all();
      if (m_done) {
        break;
      }
      m_cv.wait(lock, [this] { return !m_queue.empty() || m_done; });
    }
    if (m_error && !m_drain) {
      std::rethrow_exception(m_error);  // the inner source failed
    }
  }
  m_thread.join();
  m_thread = std::thread([] {});  // the destructor joins again
  if (m_drain) {
    // Decoding stopped at trailing bytes after the data that the tar needed; the blob's
    // own digest still has to be checked by reading it to the end.
    std::vector<char> buf(k_chunk);
    while (m_inner.read(buf.data(), buf.size()) > 0) {
    }
  }
}

}  // namespace strata::oci
