#include <catch2/catch.hpp>

#include "oci/decompress.hpp"
#include "tests/unit/oci_test_support.hpp"
#include "util/error.hpp"

using strata::oci::DecompressingSource;
using strata::oci::media::LayerCompression;
using strata::util::Error;
using strata::util::ErrorKind;
using strata::util::StringSource;

namespace {

// Reads everything with reads of `chunk` bytes.
std::string drain(strata::util::Source& src, std::size_t chunk) {
  std::string out;
  std::string buf(chunk, '\0');
  for (;;) {
    const std::size_t n = src.read(buf.data(), buf.size());
    if (n == 0) {
      return out;
    }
    if (n > chunk) {
      FAIL("read returned more than asked");
    }
    out.append(buf.data(), n);
  }
}

std::string decompress(const std::string& data, LayerCompression c, std::size_t chunk = 4096) {
  StringSource in(data);
  DecompressingSource src(in, c, "sha256:test");
  return drain(src, chunk);
}

ErrorKind failure_kind(const std::string& data, LayerCompression c) {
  try {
    (void)decompress(data, c);
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("sha256:test"));
    return e.kind();
  }
  return ErrorKind::Internal;
}

// Compressible but not trivial: a few MiB of text with random parts.
std::string sample(std::size_t size) {
  std::string s;
  unsigned i = 0;
  while (s.size() < size) {
    s += "line " + std::to_string(i) + " " + strata::test::random_bytes(i % 50, i) + "\n";
    ++i;
  }
  s.resize(size);
  return s;
}

}  // namespace

TEST_CASE("decompress: gzip data made by zlib comes back intact, whatever the read size") {
  const std::string plain = sample(3 * 1024 * 1024 + 17);
  const std::string gz = strata::test::gzip_compress(plain);
  CHECK(decompress(gz, LayerCompression::Gzip) == plain);
  CHECK(decompress(gz, LayerCompression::Gzip, 1) == plain);
  CHECK(decompress(gz, LayerCompression::Gzip, 1 << 20) == plain);
}

TEST_CASE("decompress: concatenated gzip members are one stream") {
  const std::string a = sample(100000);
  const std::string b = "second member";
  CHECK(decompress(strata::test::gzip_compress(a) + strata::test::gzip_compress(b),
                   LayerCompression::Gzip) == a + b);
}

TEST_CASE("decompress: zstd data made by libzstd comes back intact, several frames too") {
  const std::string plain = sample(2 * 1024 * 1024 + 5);
  const std::string zst = strata::test::zstd_compress(plain);
  CHECK(decompress(zst, LayerCompression::Zstd) == plain);
  CHECK(decompress(zst, LayerCompression::Zstd, 7) == plain);
  const std::string two = strata::test::zstd_compress("one ") + strata::test::zstd_compress("two");
  CHECK(decompress(two, LayerCompression::Zstd) == "one two");
}

TEST_CASE("decompress: empty payloads are valid streams") {
  CHECK(decompress(strata::test::gzip_compress(""), LayerCompression::Gzip).empty());
  CHECK(decompress(strata::test::zstd_compress(""), LayerCompression::Zstd).empty());
  CHECK(decompress("", LayerCompression::None).empty());
}

TEST_CASE("decompress: uncompressed tar passes through and counts bytes") {
  const std::string plain = strata::test::random_bytes(200000, 3);
  StringSource in(plain);
  DecompressingSource src(in, LayerCompression::None, "x");
  CHECK(drain(src, 1000) == plain);
  CHECK(src.compressed_bytes() == plain.size());
}

TEST_CASE("decompress: compressed_bytes counts what was consumed") {
  const std::string gz = strata::test::gzip_compress(sample(50000));
  StringSource in(gz);
  DecompressingSource src(in, LayerCompression::Gzip, "x");
  (void)drain(src, 4096);
  CHECK(src.compressed_bytes() == gz.size());
}

TEST_CASE("decompress: truncated and corrupt data is reported as corruption") {
  const std::string plain = sample(300000);
  const std::string gz = strata::test::gzip_compress(plain);
  const std::string zst = strata::test::zstd_compress(plain);

  CHECK(failure_kind(gz.substr(0, gz.size() / 2), LayerCompression::Gzip) == ErrorKind::Corruption);
  CHECK(failure_kind(gz.substr(0, gz.size() - 4), LayerCompression::Gzip) == ErrorKind::Corruption);  // no trailer
  CHECK(failure_kind("", LayerCompression::Gzip) == ErrorKind::Corruption);
  CHECK(failure_kind("this is not gzip at all", LayerCompression::Gzip) == ErrorKind::Corruption);
  std::string flipped = gz;
  flipped[flipped.size() - 6] = static_cast<char>(flipped[flipped.size() - 6] ^ 0x55);  // CRC
  CHECK(failure_kind(flipped, LayerCompression::Gzip) == ErrorKind::Corruption);
  CHECK(failure_kind(gz + "trailing garbage", LayerCompression::Gzip) == ErrorKind::Corruption);

  CHECK(failure_kind(zst.substr(0, zst.size() / 2), LayerCompression::Zstd) == ErrorKind::Corruption);
  CHECK(failure_kind(zst.substr(0, zst.size() - 1), LayerCompression::Zstd) == ErrorKind::Corruption);
  CHECK(failure_kind("", LayerCompression::Zstd) == ErrorKind::Corruption);
  CHECK(failure_kind("not zstd either", LayerCompression::Zstd) == ErrorKind::Corruption);
}

TEST_CASE("decompress: an unknown compression is unsupported") {
  StringSource in("x");
  try {
    DecompressingSource src(in, LayerCompression::Unknown, "sha256:blob");
    FAIL("accepted unknown compression");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Unsupported);
    CHECK_THAT(e.what(), Catch::Contains("sha256:blob"));
  }
}

TEST_CASE("decompress: the owning variant keeps its input alive") {
  const std::string plain = "owned content";
  auto owned = std::make_shared<std::string>(strata::test::zstd_compress(plain));
  class Holder final : public strata::util::Source {
   public:
    explicit Holder(std::shared_ptr<std::string> d) : m_data(std::move(d)), m_src(*m_data) {}
    std::size_t read(void* data, std::size_t size) override { return m_src.read(data, size); }

   private:
    std::shared_ptr<std::string> m_data;
    StringSource m_src;
  };
  auto src = strata::oci::open_decompressed(std::make_unique<Holder>(owned), LayerCompression::Zstd, "x");
  owned.reset();
  CHECK(drain(*src, 3) == plain);
}
