#include <catch2/catch.hpp>

#include <filesystem>

#include "oci/layout.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata::oci;
namespace fs = std::filesystem;
using strata::util::Error;
using strata::util::ErrorKind;
using strata::util::TempDir;

namespace {

struct Image {
  std::string config;
  std::string layer;
  std::string manifest;
  Descriptor descriptor;
};

// A tiny image whose blobs are written into `w` (layer content is arbitrary bytes here).
Image make_image(LayoutWriter& w, const std::string& seed) {
  Image img;
  ImageConfig cfg;
  cfg.architecture = "amd64";
  cfg.os = "linux";
  img.layer = "layer-" + seed;
  cfg.diff_ids = {Digest::of(img.layer)};
  img.config = to_json(cfg);
  Manifest m;
  m.media_type = media::k_oci_manifest;
  m.config = {std::string(media::k_oci_config), Digest::of(img.config),
              static_cast<std::int64_t>(img.config.size()), {}, {}, {}, {}, {}};
  m.layers.push_back({std::string(media::k_oci_layer_tar), Digest::of(img.layer),
                      static_cast<std::int64_t>(img.layer.size()), {}, {}, {}, {}, {}});
  img.manifest = to_json(m);
  img.descriptor = {std::string(media::k_oci_manifest), Digest::of(img.manifest),
                    static_cast<std::int64_t>(img.manifest.size()), {}, {}, {}, {}, {}};
  w.add_blob(Digest::of(img.layer), img.layer);
  w.add_blob(Digest::of(img.config), img.config);
  w.add_blob(img.descriptor.digest, img.manifest);
  return img;
}

template <typename F>
Error error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error thrown");
  return Error(ErrorKind::Internal, "");
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    n += e.is_regular_file() ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("layout: write then read an image by name") {
  TempDir tmp("layout");
  const fs::path dir = tmp.path() / "out";
  Image img;
  {
    LayoutWriter w(dir);
    img = make_image(w, "a");
    w.add_manifest(img.descriptor, "v1");
    w.commit();
  }
  CHECK(strata::util::read_file(dir / "oci-layout") == R"({"imageLayoutVersion":"1.0.0"})");
  CHECK(fs::is_regular_file(dir / "blobs" / "sha256" / img.descriptor.digest.hex()));
  const std::string index = strata::util::read_file(dir / "index.json");
  CHECK(index == R"({"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"v1"},"digest":")" +
                     img.descriptor.digest.str() + R"(","mediaType":"application/vnd.oci.image.manifest.v1+json","size":)" +
                     std::to_string(img.manifest.size()) +
                     R"(}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2})");

  LayoutReader r(dir);
  const Descriptor d = r.resolve("v1");
  CHECK(d.digest == img.descriptor.digest);
  CHECK(r.resolve("").digest == img.descriptor.digest);  // the only image
  CHECK(r.read_blob(d.digest) == img.manifest);
  const Manifest m = parse_manifest(r.read_blob(d.digest), d.digest.str());
  CHECK(r.read_blob(m.config.digest) == img.config);
  CHECK(r.has_blob(m.layers[0].digest));
  CHECK(r.blob_path(m.layers[0].digest) == dir / "blobs" / "sha256" / m.layers[0].digest.hex());

  const Error missing = error_of([&] { (void)r.resolve("v2"); });
  CHECK(missing.kind() == ErrorKind::NotFound);
  CHECK_THAT(missing.what(), Catch::Contains("v2") && Catch::Contains("v1"));
}

TEST_CASE("layout: adding to an existing layout replaces by name and keeps a stable order") {
  TempDir tmp("layout");
  const fs::path dir = tmp.path();
  Image a;
  Image b;
  Image c;
  {
    LayoutWriter w(dir);
    a = make_image(w, "a");
    b = make_image(w, "b");
    w.add_manifest(a.descriptor, "zeta");
    w.add_manifest(b.descriptor, "alpha");
    w.commit();
  }
  const std::string first_index = strata::util::read_file(dir / "index.json");
  {
    // Same content added in the other order gives the same index.json bytes.
    TempDir other("layout2");
    LayoutWriter w(other.path());
    make_image(w, "b");
    make_image(w, "a");
    w.add_manifest(b.descriptor, "alpha");
    w.add_manifest(a.descriptor, "zeta");
    w.commit();
    CHECK(strata::util::read_file(other.path() / "index.json") == first_index);
  }
  {
    LayoutWriter w(dir);  // reopens and keeps both entries
    c = make_image(w, "c");
    w.add_manifest(c.descriptor, "zeta");  // moves the name to c
    w.add_manifest(c.descriptor, "");      // and an unnamed entry
    w.add_manifest(c.descriptor, "");      // not twice
    w.commit();
  }
  LayoutReader r(dir);
  REQUIRE(r.index().manifests.size() == 3);
  CHECK(r.index().manifests[0].annotations.empty());  // unnamed sorts first
  CHECK(r.index().manifests[1].annotations.at(std::string(k_ref_name_annotation)) == "alpha");
  CHECK(r.resolve("zeta").digest == c.descriptor.digest);
  CHECK(r.resolve("alpha").digest == b.descriptor.digest);
  const Error several = error_of([&] { (void)r.resolve(""); });
  CHECK(several.kind() == ErrorKind::InvalidInput);
  CHECK_THAT(several.what(), Catch::Contains("alpha"));
}

TEST_CASE("layout: a blob whose content does not match its digest is refused and leaves nothing") {
  TempDir tmp("layout");
  LayoutWriter w(tmp.path());
  const Digest claimed = Digest::of("expected");
  const Error e = error_of([&] { w.add_blob(claimed, std::string_view("something else")); });
  CHECK(e.kind() == ErrorKind::Corruption);
  CHECK_THAT(e.what(), Catch::Contains(claimed.str()));
  CHECK_FALSE(w.has_blob(claimed));
  CHECK(count_files(tmp.path()) == 0);  // no temp file left behind

  // Existing blobs are skipped (the source is not even read).
  w.add_blob(claimed, std::string_view("expected"));
  class Exploding final : public strata::util::Source {
   public:
    std::size_t read(void*, std::size_t) override { throw std::logic_error("read"); }
  } exploding;
  w.add_blob(claimed, exploding);
  CHECK(w.has_blob(claimed));
}

TEST_CASE("layout: a corrupt blob on disk is detected when read") {
  TempDir tmp("layout");
  Image img;
  {
    LayoutWriter w(tmp.path());
    img = make_image(w, "a");
    w.add_manifest(img.descriptor, "latest");
    w.commit();
  }
  const Digest config = Digest::of(img.config);
  strata::util::write_file_atomic(tmp.path() / "blobs" / "sha256" / config.hex(), "tampered");
  LayoutReader r(tmp.path());
  const Error e = error_of([&] { (void)r.read_blob(config); });
  CHECK(e.kind() == ErrorKind::Corruption);
  CHECK_THAT(e.what(), Catch::Contains(config.hex()));
  CHECK(error_of([&] { (void)r.read_blob(Digest::of("absent")); }).kind() == ErrorKind::NotFound);
}

TEST_CASE("layout: commit refuses an index naming a missing blob; bad names are refused") {
  TempDir tmp("layout");
  LayoutWriter w(tmp.path());
  Descriptor d{std::string(media::k_oci_manifest), Digest::of("nope"), 4, {}, {}, {}, {}, {}};
  w.add_manifest(d, "x");
  CHECK(error_of([&] { w.commit(); }).kind() == ErrorKind::NotFound);
  CHECK_FALSE(fs::exists(tmp.path() / "index.json"));
  for (const char* bad : {"a b", "-x", "x/", "/x", "x//y", "a..b", "x\n"}) {
    INFO(bad);
    CHECK(error_of([&] { w.add_manifest(d, bad); }).kind() == ErrorKind::InvalidInput);
  }
  w.add_manifest(d, "registry.example.com/team/env:v1.0");  // a full reference is a valid name
  w.add_manifest(d, "a--b_c+d@e");
}

TEST_CASE("layout: reading something that is not a layout explains why") {
  TempDir tmp("layout");
  CHECK(error_of([&] { LayoutReader r(tmp.path() / "absent"); }).kind() == ErrorKind::NotFound);
  const Error no_marker = error_of([&] { LayoutReader r(tmp.path()); });
  CHECK(no_marker.kind() == ErrorKind::NotFound);
  CHECK_THAT(no_marker.what(), Catch::Contains("oci-layout"));

  strata::util::write_file_atomic(tmp.path() / "oci-layout", R"({"imageLayoutVersion":"2.0.0"})");
  CHECK(error_of([&] { LayoutReader r(tmp.path()); }).kind() == ErrorKind::Unsupported);
  strata::util::write_file_atomic(tmp.path() / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  strata::util::write_file_atomic(tmp.path() / "index.json", R"({"schemaVersion":2,"manifests":[{"digest":"x"}]})");
  const Error bad_index = error_of([&] { LayoutReader r(tmp.path()); });
  CHECK(bad_index.kind() == ErrorKind::InvalidInput);
  CHECK_THAT(bad_index.what(), Catch::Contains("index.json") && Catch::Contains("manifests[0]"));
}

TEST_CASE("layout: split_layout_ref follows skopeo's oci: transport") {
  CHECK(split_layout_ref("dir") == std::pair<fs::path, std::string>{"dir", ""});
  CHECK(split_layout_ref("dir:tag") == std::pair<fs::path, std::string>{"dir", "tag"});
  CHECK(split_layout_ref("/abs/dir:v1.0") == std::pair<fs::path, std::string>{"/abs/dir", "v1.0"});
  CHECK(split_layout_ref("./a:b/dir:tag") == std::pair<fs::path, std::string>{"./a", "b/dir:tag"});
  CHECK(split_layout_ref("dir:") == std::pair<fs::path, std::string>{"dir", ""});
}
