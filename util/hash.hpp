// Streaming SHA-256 / SHA-512 over OpenSSL's EVP interface.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "util/io.hpp"

struct evp_md_ctx_st;

namespace strata::util {

enum class HashAlgorithm { Sha256, Sha512 };

/// Incremental hash. Not thread-safe; move-only. finish() may be called once.
class Hasher {
 public:
  explicit Hasher(HashAlgorithm algorithm = HashAlgorithm::Sha256);
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();

  void update(const void* data, std::size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// Lower-case hex of the digest.
  std::string finish_hex();
  [[nodiscard]] HashAlgorithm algorithm() const noexcept { return m_algorithm; }

 private:
  struct CtxDeleter {
    void operator()(evp_md_ctx_st* ctx) const noexcept;
  };
  HashAlgorithm m_algorithm;
  std::unique_ptr<evp_md_ctx_st, CtxDeleter> m_ctx;
};

/// A sink that hashes what passes through it and forwards it to `next` (if any).
class HashingSink final : public Sink {
 public:
  explicit HashingSink(Sink* next, HashAlgorithm algorithm = HashAlgorithm::Sha256)
      : m_next(next), m_hasher(algorithm) {}
  using Sink::write;
  void write(const void* data, std::size_t size) override {
    m_hasher.update(data, size);
    m_size += size;
    if (m_next != nullptr) {
      m_next->write(data, size);
    }
  }
  std::string finish_hex() { return m_hasher.finish_hex(); }
  [[nodiscard]] std::uint64_t size() const noexcept { return m_size; }

 private:
  Sink* m_next;
  Hasher m_hasher;
  std::uint64_t m_size = 0;
};

/// Hex digest of a whole string.
std::string hash_hex(std::string_view data, HashAlgorithm algorithm = HashAlgorithm::Sha256);

/// Hex digest of a file's content; throws NotFound/IO naming the file.
std::string hash_file_hex(const std::string& path,
                          HashAlgorithm algorithm = HashAlgorithm::Sha256);

/// Lower-case hex encoding.
std::string to_hex(const unsigned char* data, std::size_t size);

}  // namespace strata::util
