#include <catch2/catch.hpp>

#include "oci/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using strata::oci::Digest;
using strata::util::Error;
using strata::util::ErrorKind;

namespace {
const std::string k_hex64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

ErrorKind kind_of_parse(const std::string& text) {
  try {
    (void)Digest::parse(text);
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Internal;  // "did not throw"
}
}  // namespace

TEST_CASE("digest: valid sha256, sha512 and other algorithms parse") {
  const Digest d = Digest::parse("sha256:" + k_hex64);
  CHECK(d.algorithm() == "sha256");
  CHECK(d.hex() == k_hex64);
  CHECK(d.str() == "sha256:" + k_hex64);
  CHECK(d.hash_algorithm() == strata::util::HashAlgorithm::Sha256);

  const std::string hex128(128, 'a');
  const Digest d512 = Digest::parse("sha512:" + hex128);
  CHECK(d512.hash_algorithm() == strata::util::HashAlgorithm::Sha512);

  // The generic grammar: algorithm components with separators, encoded part [a-zA-Z0-9=_-].
  const Digest other = Digest::parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8");
  CHECK(other.algorithm() == "multihash+base58");
  CHECK_FALSE(other.hash_algorithm().has_value());
}

TEST_CASE("digest: malformed text is rejected as invalid input") {
  const std::vector<std::string> bad = {
      "",
      "sha256",
      "sha256:",
      ":" + k_hex64,
      "sha256:" + k_hex64.substr(1),                  // 63 digits
      "sha256:" + k_hex64 + "0",                      // 65 digits
      "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",  // upper hex
      "sha256:" + k_hex64.substr(0, 63) + "g",        // not hex
      "SHA256:" + k_hex64,                            // upper-case algorithm
      "sha512:" + k_hex64,                            // sha512 needs 128
      "sha256+:" + k_hex64,                           // dangling separator
      "sha256:" + k_hex64.substr(0, 60) + " abc",     // space
      "sha256:" + k_hex64 + "\n",
  };
  for (const auto& text : bad) {
    INFO("digest text: '" << text << "'");
    CHECK(kind_of_parse(text) == ErrorKind::InvalidInput);
    CHECK_FALSE(Digest::try_parse(text).has_value());
  }
}

TEST_CASE("digest: the error names the offending text") {
  try {
    (void)Digest::parse("sha256:abc");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("sha256:abc"));
    CHECK_THAT(e.what(), Catch::Contains("64"));
  }
}

TEST_CASE("digest: computed digests match known values and compare by value") {
  CHECK(Digest::of("").str() == "sha256:" + k_hex64);
  CHECK(Digest::of("abc").hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Digest::of("abc", strata::util::HashAlgorithm::Sha512).str().rfind("sha512:ddaf35a1", 0) == 0);
  CHECK(Digest::of("a") == Digest::parse(Digest::of("a").str()));
  CHECK(Digest::of("a") != Digest::of("b"));

  strata::util::TempDir dir("digest-test");
  strata::util::write_file_atomic(dir.path() / "f", "abc");
  CHECK(Digest::of_file((dir.path() / "f").string()) == Digest::of("abc"));
}
