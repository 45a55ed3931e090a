// Compressing sinks: round trips, fixed gzip header bytes, and zstd output that does not
// depend on the worker count or on how the input is chunked.
#include <catch2/catch.hpp>
#include <zlib.h>
#include <zstd.h>

#include <random>
#include <string>

#include "oci/compress.hpp"
#include "util/error.hpp"

using strata::oci::GzipSink;
using strata::oci::ZstdSink;
using strata::util::StringSink;

namespace {

// Semi-compressible data: runs of words mixed with random bytes.
std::string sample(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  static const char* words[] = {"tensor ", "layer ", "strata ", "cuda ", "numpy ", "kafka "};
  std::string s;
  s.reserve(size);
  while (s.size() < size) {
    if (rng() % 4 == 0) {
      for (int i = 0; i < 16; ++i) {
        s += static_cast<char>(rng());
      }
    } else {
      s += words[rng() % 6];
    }
  }
  s.resize(size);
  return s;
}

std::string zstd_compress(const std::string& data, int level, int workers,
                          std::size_t chunk = std::string::npos) {
  StringSink out;
  ZstdSink z(out, level, workers);
  for (std::size_t pos = 0; pos < data.size();) {
    const std::size_t n = std::min(chunk, data.size() - pos);
    z.write(data.data() + pos, n);
    pos += n;
  }
  z.finish();
  return out.take();
}

std::string zstd_decompress(const std::string& comp) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> d(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::string out;
  std::string buf(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer in{comp.data(), comp.size(), 0};
  std::size_t rc = 1;
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    rc = ZSTD_decompressStream(d.get(), &o, &in);
    REQUIRE(ZSTD_isError(rc) == 0);
    out.append(buf.data(), o.pos);
  }
  REQUIRE(rc == 0);  // frame complete
  return out;
}

std::string gunzip(const std::string& comp) {
  z_stream s{};
  REQUIRE(inflateInit2(&s, 31) == Z_OK);
  std::string out;
  std::string buf(1 << 16, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(comp.data()));
  s.avail_in = static_cast<uInt>(comp.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    s.next_out = reinterpret_cast<Bytef*>(buf.data());
    s.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&s, Z_NO_FLUSH);
    REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
    out.append(buf.data(), buf.size() - s.avail_out);
  }
  CHECK(s.avail_in == 0);
  inflateEnd(&s);
  return out;
}

}  // namespace

TEST_CASE("zstd frames round-trip, carry a checksum and no content size") {
  const std::string data = sample(3 << 20, 1);
  const std::string comp = zstd_compress(data, 3, 2);
  CHECK(comp.size() < data.size());
  CHECK(zstd_decompress(comp) == data);
  CHECK(ZSTD_getFrameContentSize(comp.data(), comp.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
  // Frame_Header_Descriptor (RFC 8878 3.1.1.1.1): checksum bit set, no dictionary id.
  REQUIRE(comp.size() > 5);
  const auto fhd = static_cast<unsigned char>(comp[4]);
  CHECK((fhd & 0x04U) != 0);
  CHECK((fhd & 0x03U) == 0);

  // Empty input is still one valid frame.
  const std::string empty = zstd_compress("", 3, 1);
  CHECK(zstd_decompress(empty).empty());
}

TEST_CASE("zstd output does not depend on the worker count or on write chunking") {
  // Larger than several zstd jobs at level 3 so that the workers really split the work.
  const std::string data = sample(20 << 20, 2);  // 8 MiB jobs at level 3
  const std::string one = zstd_compress(data, 3, 1);
  CHECK(zstd_compress(data, 3, 4) == one);
  CHECK(zstd_compress(data, 3, 2, 777'777) == one);
  CHECK(zstd_decompress(one) == data);
  // Small inputs too (one job).
  const std::string small = sample(1000, 3);
  CHECK(zstd_compress(small, 3, 1) == zstd_compress(small, 3, 3, 7));
  // The level matters, as it should.
  CHECK(zstd_compress(small, 19, 1) != zstd_compress(small, 1, 1));
}

TEST_CASE("zstd rejects bad levels and worker counts") {
  StringSink out;
  CHECK_THROWS_AS(ZstdSink(out, 0, 1), strata::util::Error);
  CHECK_THROWS_AS(ZstdSink(out, 23, 1), strata::util::Error);
  CHECK_THROWS_AS(ZstdSink(out, 3, 0), strata::util::Error);
  CHECK(strata::oci::default_zstd_workers() >= 1);
  CHECK(strata::oci::default_zstd_workers() <= 4);
}

TEST_CASE("gzip has a fixed header (no name, mtime 0, OS 255) and round-trips") {
  const std::string data = sample(1 << 20, 4);
  for (int level : {1, 6, 9}) {
    StringSink out;
    GzipSink g(out, level);
    g.write(data.data(), data.size() / 3);
    g.write(data.data() + data.size() / 3, data.size() - data.size() / 3);
    g.finish();
    const std::string& comp = out.str();
    REQUIRE(comp.size() > 18);
    const unsigned char xfl = level == 9 ? 2 : (level == 1 ? 4 : 0);
    const std::string expected_header{'\x1f', '\x8b', '\x08', '\0',  '\0', '\0',
                                      '\0',   '\0',   static_cast<char>(xfl), '\xff'};
    CHECK(comp.substr(0, 10) == expected_header);
    CHECK(gunzip(comp) == data);

    StringSink again;
    GzipSink g2(again, level);
    g2.write(data.data(), data.size());
    g2.finish();
    CHECK(again.str() == comp);
  }
  StringSink out;
  CHECK_THROWS_AS(GzipSink(out, 0), strata::util::Error);
  CHECK_THROWS_AS(GzipSink(out, 10), strata::util::Error);
}

TEST_CASE("writing after finish is an error") {
  StringSink out;
  ZstdSink z(out, 3, 1);
  z.finish();
  CHECK_THROWS_AS(z.write("x", 1), strata::util::Error);
  GzipSink g(out, 6);
  g.finish();
  CHECK_THROWS_AS(g.write("x", 1), strata::util::Error);
}
