#include "util/hash.hpp"

#include <openssl/evp.h>

#include <vector>

#include "util/error.hpp"

namespace strata::util {

void Hasher::CtxDeleter::operator()(evp_md_ctx_st* ctx) const noexcept { EVP_MD_CTX_free(ctx); }

Hasher::Hasher(HashAlgorithm algorithm) : m_algorithm(algorithm), m_ctx(EVP_MD_CTX_new()) {
  if (!m_ctx) {
    fail(ErrorKind::Internal, "EVP_MD_CTX_new failed");
  }
  const EVP_MD* md = algorithm == HashAlgorithm::Sha256 ? EVP_sha256() : EVP_sha512();
  if (EVP_DigestInit_ex(m_ctx.get(), md, nullptr) != 1) {
    fail(ErrorKind::Internal, "EVP_DigestInit_ex failed");
  }
}

Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(m_ctx.get(), data, size) != 1) {
    fail(ErrorKind::Internal, "EVP_DigestUpdate failed");
  }
}

std::string Hasher::finish_hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(m_ctx.get(), md, &len) != 1) {
    fail(ErrorKind::Internal, "EVP_DigestFinal_ex failed");
  }
  return to_hex(md, len);
}

std::string hash_hex(std::string_view data, HashAlgorithm algorithm) {
  Hasher h(algorithm);
  h.update(data);
  return h.finish_hex();
}

std::string hash_file_hex(const std::string& path, HashAlgorithm algorithm) {
  FileSource src(path);
  Hasher h(algorithm);
  std::vector<char> buf(1 << 20);
  for (;;) {
    const std::size_t n = src.read(buf.data(), buf.size());
    if (n == 0) {
      break;
    }
    h.update(buf.data(), n);
  }
  return h.finish_hex();
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = k_digits[data[i] >> 4];
    out[2 * i + 1] = k_digits[data[i] & 0xf];
  }
  return out;
}

}  // namespace strata::util
