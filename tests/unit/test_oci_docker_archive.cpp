#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "oci/docker_archive.hpp"
#include "oci/media_types.hpp"
#include "tests/unit/oci_test_support.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata::oci;
using strata::util::Error;
using strata::util::ErrorKind;
using namespace std::string_literals;

namespace {

constexpr std::int64_t k_mtime = 1700000000;

struct Fixture {
  std::vector<std::string> tars;   // uncompressed layer tars
  std::vector<std::string> blobs;  // compressed blobs
  std::vector<DockerArchiveLayer> layers;
  std::string config;
  Digest config_digest;
};

// A DockerArchiveLayer::open that serves a copy of `blob`.
std::function<std::unique_ptr<strata::util::Source>()> opener(std::string blob) {
  return [blob = std::move(blob)]() {
    struct Owned final : strata::util::Source {
      explicit Owned(std::string d) : data(std::move(d)), src(data) {}
      std::size_t read(void* p, std::size_t n) override { return src.read(p, n); }
      std::string data;
      strata::util::StringSource src;
    };
    return std::unique_ptr<strata::util::Source>(std::make_unique<Owned>(blob));
  };
}

// Three layers: gzip, zstd and uncompressed; only the first announces its size.
Fixture make_fixture() {
  Fixture f;
  f.tars = {strata::test::make_tar({{"etc/hostname", "strata\n"}}),
            strata::test::make_tar({{"opt/big.bin", strata::test::random_bytes(300000, 7)}}),
            strata::test::make_tar({{"README", "plain layer"}})};
  f.blobs = {strata::test::gzip_compress(f.tars[0]), strata::test::zstd_compress(f.tars[1]), f.tars[2]};
  const std::string_view types[] = {media::k_docker_layer_gzip, media::k_oci_layer_zstd,
                                    media::k_oci_layer_tar};
  ImageConfig cfg;
  cfg.architecture = "amd64";
  cfg.os = "linux";
  for (std::size_t i = 0; i < 3; ++i) {
    DockerArchiveLayer layer;
    layer.descriptor.media_type = types[i];
    layer.descriptor.digest = Digest::of(f.blobs[i]);
    layer.descriptor.size = static_cast<std::int64_t>(f.blobs[i].size());
    layer.diff_id = Digest::of(f.tars[i]);
    if (i == 0) {
      layer.uncompressed_size = f.tars[i].size();
    }
    layer.open = opener(f.blobs[i]);
    f.layers.push_back(layer);
    cfg.diff_ids.push_back(layer.diff_id);
  }
  f.config = to_json(cfg);
  f.config_digest = Digest::of(f.config);
  return f;
}

std::string write(const Fixture& f, const std::vector<std::string>& tags) {
  strata::util::StringSink out;
  write_docker_archive(out, f.config, f.config_digest, f.layers, tags, k_mtime);
  return out.take();
}

template <typename F>
Error error_of(F fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error thrown");
  return Error(ErrorKind::Internal, "");
}

}  // namespace

TEST_CASE("docker-archive: structure, manifest.json and layer files hashing to diff_ids") {
  strata::util::TempDir tmp("docker-archive");
  const Fixture f = make_fixture();
  const std::string archive = write(f, {"example:latest", "localhost:5000/team/env:v1", "plain"});
  const auto entries = strata::test::read_tar(archive);

  std::vector<std::string> names;
  std::map<std::string, strata::test::ReadEntry> by_name;
  for (const auto& [name, entry] : entries) {
    names.push_back(name);
    by_name[name] = entry;
    CHECK(entry.uid == 0);
    CHECK(entry.gid == 0);
    CHECK(entry.mtime == k_mtime);
  }
  // Sorted bytewise, directories before their content.
  CHECK(std::is_sorted(names.begin(), names.end()));
  CHECK(names.size() == 2 + 1 + 3 + 2);
  CHECK(by_name.at("blobs/").type == AE_IFDIR);
  CHECK(by_name.at("blobs/sha256/").type == AE_IFDIR);

  const auto manifest = nlohmann::json::parse(by_name.at("manifest.json").content);
  REQUIRE(manifest.is_array());
  REQUIRE(manifest.size() == 1);
  CHECK(manifest[0]["Config"] == "blobs/sha256/" + f.config_digest.hex());
  CHECK(manifest[0]["RepoTags"] ==
        nlohmann::json::array({"example:latest", "localhost:5000/team/env:v1", "plain:latest"}));
  REQUIRE(manifest[0]["Layers"].size() == 3);
  CHECK(by_name.at(manifest[0]["Config"].get<std::string>()).content == f.config);
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string path = manifest[0]["Layers"][i];
    CHECK(path == "blobs/sha256/" + f.layers[i].diff_id.hex());
    const std::string& content = by_name.at(path).content;
    CHECK(Digest::of(content) == f.layers[i].diff_id);
    CHECK(content == f.tars[i]);
  }
  const auto repositories = nlohmann::json::parse(by_name.at("repositories").content);
  CHECK(repositories["example"]["latest"] == f.config_digest.hex());
  CHECK(repositories["localhost:5000/team/env"]["v1"] == f.config_digest.hex());

  // The same image always gives the same bytes.
  CHECK(write(f, {"example:latest", "localhost:5000/team/env:v1", "plain"}) == archive);
}

TEST_CASE("docker-archive: no tags means no repositories file; repeated layers are stored once") {
  Fixture f = make_fixture();
  f.layers.push_back(f.layers[2]);
  ImageConfig cfg = parse_image_config(f.config, "cfg");
  cfg.diff_ids.push_back(f.layers[2].diff_id);
  f.config = to_json(cfg);
  f.config_digest = Digest::of(f.config);
  const auto entries = strata::test::read_tar(write(f, {}));
  std::map<std::string, std::string> files;
  for (const auto& [name, entry] : entries) {
    files[name] = entry.content;
  }
  CHECK(files.count("repositories") == 0);
  CHECK(entries.size() == 2 + 1 + 3 + 1);
  const auto manifest = nlohmann::json::parse(files.at("manifest.json"));
  CHECK(manifest[0]["RepoTags"].empty());
  CHECK(manifest[0]["Layers"].size() == 4);
}

TEST_CASE("docker-archive: a layer that does not match its diff_id or digest is corruption") {
  Fixture f = make_fixture();
  SECTION("diff_id mismatch, streamed with a known size") {
    // Same size, different content: the gzip blob is consistent but the tar is not the one named.
    std::string other = f.tars[0];
    other[0] = static_cast<char>(other[0] ^ 1);
    f.blobs[0] = strata::test::gzip_compress(other);
    const std::string blob = f.blobs[0];
    f.layers[0].descriptor.digest = Digest::of(blob);
    f.layers[0].descriptor.size = static_cast<std::int64_t>(blob.size());
    f.layers[0].open = opener(blob);
    const Error e = error_of([&] { (void)write(f, {}); });
    CHECK(e.kind() == ErrorKind::Corruption);
    CHECK_THAT(e.what(), Catch::Contains(f.layers[0].diff_id.str()));
  }
  SECTION("wrong uncompressed size") {
    f.layers[0].uncompressed_size = f.tars[0].size() - 512;
    CHECK(error_of([&] { (void)write(f, {}); }).kind() == ErrorKind::Corruption);
    f.layers[0].uncompressed_size = f.tars[0].size() + 512;
    CHECK(error_of([&] { (void)write(f, {}); }).kind() == ErrorKind::Corruption);
  }
  SECTION("blob digest mismatch with an unknown size") {
    f.layers[1].descriptor.digest = Digest::of("something else");
    const Error e = error_of([&] { (void)write(f, {}); });
    CHECK(e.kind() == ErrorKind::Corruption);
    CHECK_THAT(e.what(), Catch::Contains(Digest::of("something else").str()));
  }
  SECTION("config digest mismatch") {
    f.config_digest = Digest::of("x");
    CHECK(error_of([&] { (void)write(f, {}); }).kind() == ErrorKind::Corruption);
  }
}

TEST_CASE("docker-archive: inconsistent input is refused before anything is written") {
  Fixture f = make_fixture();
  strata::util::StringSink out;
  SECTION("layers do not match the config's diff_ids") {
    f.layers.pop_back();
    CHECK(error_of([&] { write_docker_archive(out, f.config, f.config_digest, f.layers, {}, 0); }).kind() ==
          ErrorKind::InvalidInput);
  }
  SECTION("bad tags") {
    CHECK(error_of([&] { write_docker_archive(out, f.config, f.config_digest, f.layers, {"Bad:tag"}, 0); }).kind() ==
          ErrorKind::InvalidInput);
    const std::string pinned = "x@" + Digest::of("a").str();
    CHECK(error_of([&] { write_docker_archive(out, f.config, f.config_digest, f.layers, {pinned}, 0); }).kind() ==
          ErrorKind::InvalidInput);
  }
  SECTION("unknown layer media type") {
    f.layers[0].descriptor.media_type = "application/octet-stream";
    CHECK(error_of([&] { write_docker_archive(out, f.config, f.config_digest, f.layers, {}, 0); }).kind() ==
          ErrorKind::Unsupported);
  }
  CHECK(out.str().empty());
}

