// Upload completion without a copy: the server hashes the bytes while they arrive and, on
// PUT, renames the upload file itself into the store. These tests check what that changes
// for a user: the blob is the same file (no second copy written), multi-chunk uploads that
// cross the server's write buffer hash correctly, a session can be completed with another
// digest algorithm than it started with, and a wrong digest or a restart are still handled.
#include <sys/stat.h>

#include <filesystem>

#include "registry_fixture.hpp"

using strata::oci::Digest;
using strata::registry::test::error_code;
using strata::registry::test::TestRegistry;

namespace {

const std::string k_octet = "application/octet-stream";

std::string start_upload(httplib::Client& c, const std::string& repo,
                         const std::string& query = "") {
  auto res = c.Post("/v2/" + repo + "/blobs/uploads/" + query, "", k_octet);
  REQUIRE(res);
  REQUIRE(res->status == 202);
  return res->get_header_value("Location");
}

/// The upload file of a session (<root>/uploads/<uuid>).
std::filesystem::path upload_file(const TestRegistry& reg, const std::string& location) {
  return reg.root() / "uploads" / location.substr(location.rfind('/') + 1);
}

/// Bytes that do not repeat with a period of a power of two (so misplaced chunks show).
std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  std::uint32_t x = 12345;
  for (auto& c : out) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

std::uint64_t inode_of(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

}  // namespace

TEST_CASE("completing an upload publishes the upload file itself, not a copy", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string data = pattern(3 * 1024 * 1024 + 17);
  const auto digest = Digest::of(data);
  const auto location = start_upload(c, "adopt");
  auto patch = c.Patch(location, data, k_octet);
  REQUIRE(patch);
  REQUIRE(patch->status == 202);
  const auto inode = inode_of(upload_file(reg, location));

  auto put = c.Put(location + "?digest=" + digest.str(), "", k_octet);
  REQUIRE(put);
  CHECK(put->status == 201);
  const auto blob = reg.root() / "blobs" / "sha256" / digest.hex();
  CHECK(inode_of(blob) == inode);
  CHECK(!std::filesystem::exists(upload_file(reg, location)));
  struct stat st {};
  REQUIRE(::stat(blob.c_str(), &st) == 0);
  CHECK((st.st_mode & 0222) == 0);  // published blobs are read-only
  auto get = c.Get("/v2/adopt/blobs/" + digest.str());
  REQUIRE(get);
  CHECK(get->body == data);
}

TEST_CASE("chunks of odd sizes across the write buffer hash to the right digest", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string data = pattern(5 * 1024 * 1024 + 3);
  const auto digest = Digest::of(data);
  const auto location = start_upload(c, "chunky");
  const std::size_t cuts[] = {0, 1, 1024 * 1024 - 1, 1024 * 1024 + 5, 4 * 1024 * 1024};
  for (std::size_t i = 0; i < std::size(cuts); ++i) {
    const std::size_t from = cuts[i];
    const std::size_t to = i + 1 < std::size(cuts) ? cuts[i + 1] : data.size();
    if (to == from) {
      continue;
    }
    auto res = c.Patch(location,
                       httplib::Headers{{"Content-Range", std::to_string(from) + "-" +
                                                              std::to_string(to - 1)}},
                       data.substr(from, to - from), k_octet);
    REQUIRE(res);
    REQUIRE(res->status == 202);
  }
  auto put = c.Put(location + "?digest=" + digest.str(), "", k_octet);
  REQUIRE(put);
  CHECK(put->status == 201);
  CHECK(c.Get("/v2/chunky/blobs/" + digest.str())->body == data);
}

TEST_CASE("an upload can be completed with another algorithm than it started with",
          "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string data = pattern(200000);
  const auto location = start_upload(c, "alg");
  REQUIRE(c.Patch(location, data, k_octet)->status == 202);

  SECTION("sha512 on a sha256 session") {
    const auto digest = Digest::of(data, strata::util::HashAlgorithm::Sha512);
    auto put = c.Put(location + "?digest=" + digest.str(), "", k_octet);
    REQUIRE(put);
    CHECK(put->status == 201);
    CHECK(c.Get("/v2/alg/blobs/" + digest.str())->body == data);
  }
  SECTION("a wrong digest names what the bytes hash to and stores nothing") {
    const auto wrong = Digest::of(data + "x");
    auto put = c.Put(location + "?digest=" + wrong.str(), "", k_octet);
    REQUIRE(put);
    CHECK(put->status == 400);
    CHECK(error_code(put) == "DIGEST_INVALID");
    CHECK(put->body.find(Digest::of(data).str()) != std::string::npos);
    CHECK(!std::filesystem::exists(reg.root() / "blobs" / "sha256" / wrong.hex()));
    CHECK(!std::filesystem::exists(upload_file(reg, location)));
  }
}

TEST_CASE("an upload resumed after a restart re-hashes what it had and completes",
          "[registry]") {
  TestRegistry reg;
  const std::string data = pattern(2 * 1024 * 1024 + 99);
  const std::size_t half = 1024 * 1024 + 7;
  std::string location;
  {
    auto c = reg.client();
    location = start_upload(c, "resume");
    REQUIRE(c.Patch(location, data.substr(0, half), k_octet)->status == 202);
  }
  reg.restart();
  auto c = reg.client();
  auto rest = c.Put(location + "?digest=" + Digest::of(data).str(),
                    httplib::Headers{{"Content-Range", std::to_string(half) + "-" +
                                                           std::to_string(data.size() - 1)}},
                    data.substr(half), k_octet);
  REQUIRE(rest);
  CHECK(rest->status == 201);
  CHECK(c.Get("/v2/resume/blobs/" + Digest::of(data).str())->body == data);
}

TEST_CASE("a monolithic POST is published without a copy too", "[registry]") {
  TestRegistry reg;
  auto c = reg.client();
  const std::string data = pattern(1500000);
  const auto digest = Digest::of(data);
  auto res = c.Post("/v2/mono/blobs/uploads/?digest=" + digest.str(), data, k_octet);
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(c.Get("/v2/mono/blobs/" + digest.str())->body == data);
  CHECK(std::filesystem::is_empty(reg.root() / "uploads"));
  const auto wrong = Digest::of("other");
  auto bad = c.Post("/v2/mono/blobs/uploads/?digest=" + wrong.str(), data, k_octet);
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(error_code(bad) == "DIGEST_INVALID");
  CHECK(std::filesystem::is_empty(reg.root() / "uploads"));
}
