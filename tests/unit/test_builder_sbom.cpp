// SBOM content: purls (epochs, '+', qualifiers), deterministic identifiers and bytes, the
// layer each package and fetched file is in, lock agreement, and the shape of the SPDX
// and CycloneDX documents. The documents are validated against the official JSON schemas
// in tests/integration/test_sbom.sh.
#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "builder/debian_stack.hpp"
#include "builder/sbom.hpp"
#include "builder_test_support.hpp"
#include "util/fs.hpp"

using namespace strata;
using builder::LockedPackage;
using nlohmann::json;

namespace {

LockedPackage pkg(std::string name, std::string version, std::string arch = "amd64") {
  LockedPackage p;
  p.name = std::move(name);
  p.version = std::move(version);
  p.architecture = std::move(arch);
  p.sha256 = oci::Digest::of(p.name + p.version);
  p.size = 100;
  p.path = "pool/main/" + p.name.substr(0, 1) + "/" + p.name + "/" + p.name + ".deb";
  p.archive = "trixie/main";
  return p;
}

/// A two-recipe stack (base: one debian layer; project: a fetch layer and a debian
/// layer), its lock, and a BuildResult with one fake layer per recipe layer.
struct Fixture {
  util::TempDir tmp{"sbom"};
  builder::Recipe recipe;
  builder::Lock lock;
  builder::BuildResult result;

  explicit Fixture(const std::string& app_version = "2.10-3") {
    const auto dir = tmp.path();
    test::put_file(dir / "base.toml",
                   "[recipe]\nname = \"base\"\n[debian]\nsuite = \"trixie\"\n"
                   "architectures = [\"amd64\"]\n"
                   "[[layer]]\nname = \"os\"\n[[layer.step]]\ntype = \"debian\"\n"
                   "priority = \"minbase\"\n");
    test::put_file(dir / "strata.toml",
                   "[recipe]\nname = \"proj\"\nfrom = \"base.toml\"\nsource_date_epoch = 1700000000\n"
                   "[[layer]]\nname = \"tools\"\n[[layer.step]]\ntype = \"fetch\"\n"
                   "url = \"https://example.invalid/dl/tool-1.0.tar.gz?x=1\"\n"
                   "sha256 = \"" + std::string(64, 'a') + "\"\ndest = \"/opt/tool/\"\n"
                   "extract = \"tar\"\n"
                   "[[layer.step]]\ntype = \"fetch\"\nurl = \"https://example.invalid/model.bin\"\n"
                   "sha512 = \"" + std::string(128, 'b') + "\"\ndest = \"/models/model.bin\"\n"
                   "[[layer]]\nname = \"apps\"\n[[layer.step]]\ntype = \"debian\"\n"
                   "packages = [\"hello\"]\n");
    recipe = builder::load_recipe(dir / "strata.toml");
    const auto refs = builder::debian_layers(recipe);
    REQUIRE(refs.size() == 2);
    builder::LockedArchive archive;
    archive.suite = "trixie";
    archive.codename = "trixie";
    archive.components = {"main"};
    archive.architectures = {"amd64"};
    archive.inrelease = oci::Digest::of("inrelease");
    archive.date_epoch = 1700000000;
    lock.archive = archive;
    lock.layers.push_back({"base", "os", refs[0].request,
                           {pkg("base-files", "13"), pkg("libstdc++6", "14.2.0-4"),
                            pkg("attr", "1:2.5.2-1")}});
    lock.layers.push_back({"proj", "apps", refs[1].request,
                           {pkg("hello", app_version), pkg("hello", app_version, "i386")}});

    result.name = "proj";
    result.tag = "proj:latest";
    result.source_date_epoch = 1700000000;
    for (int i = 0; i < 3; ++i) {
      builder::BuiltLayer l;
      l.digest = oci::Digest::of("layer" + std::to_string(i));
      result.layers.push_back(l);
    }
    result.image.manifest_json = "{\"manifest\":\"" + app_version + "\"}";
    result.image.manifest = oci::Digest::of(result.image.manifest_json);
  }

  [[nodiscard]] builder::SbomInventory inventory() const {
    return builder::collect_inventory(recipe, &lock, result);
  }
};

const json* find_by(const json& list, const std::string& key, const std::string& value) {
  for (const auto& item : list) {
    if (item.contains(key) && item[key] == value) {
      return &item;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("sbom: Debian purls follow the purl deb type", "[builder][sbom]") {
  CHECK(builder::debian_purl(pkg("hello", "2.10-3"), "trixie") ==
        "pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-trixie");
  // The epoch stays in the version, as the spec's own example attr@1:2.4.47-2 does.
  CHECK(builder::debian_purl(pkg("attr", "1:2.4.47-2+b1"), "bookworm") ==
        "pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64&distro=debian-bookworm");
  CHECK(builder::debian_purl(pkg("libstdc++6", "14.2.0~rc1-4", "all"), "") ==
        "pkg:deb/debian/libstdc%2B%2B6@14.2.0~rc1-4?arch=all");
  CHECK(builder::oci_purl("team/My-Image", oci::Digest::of("x"), "v1") ==
        "pkg:oci/my-image@sha256%3A" + oci::Digest::of("x").hex() + "?tag=v1");
}

TEST_CASE("sbom: identifiers are derived from the manifest digest", "[builder][sbom]") {
  // Known answers from Python's uuid.uuid5(uuid.NAMESPACE_URL, NAME).
  CHECK(builder::uuid_v5_url("https://strata.invalid/x") == "6f688248-c77f-5698-afa7-bd26994356bc");
  CHECK(builder::uuid_v5_url("http://python.org/") == "4c565f0d-3f5a-5890-b41b-20cf47701c5e");
  const auto d1 = oci::Digest::of("a");
  const auto d2 = oci::Digest::of("b");
  CHECK(builder::cyclonedx_serial_number("img", d1) == builder::cyclonedx_serial_number("img", d1));
  CHECK(builder::cyclonedx_serial_number("img", d1) != builder::cyclonedx_serial_number("img", d2));
  CHECK(builder::spdx_document_namespace("img", d1) == "https://strata.invalid/spdx/img-" + d1.hex());
}

TEST_CASE("sbom: packages and fetched files carry the layer they are in", "[builder][sbom]") {
  Fixture f;
  const auto inv = f.inventory();
  REQUIRE(inv.packages.size() == 5);
  CHECK(inv.distro == "trixie");
  // Sorted by name, then architecture.
  CHECK(inv.packages[0].package.name == "attr");
  CHECK(inv.packages[2].package.name == "hello");
  CHECK(inv.packages[2].package.architecture == "amd64");
  CHECK(inv.packages[3].package.architecture == "i386");
  CHECK(inv.packages[0].layer.name == "base/os");
  CHECK(inv.packages[0].layer.index == 0);
  CHECK(inv.packages[2].layer.name == "proj/apps");
  CHECK(inv.packages[2].layer.index == 2);
  CHECK(inv.packages[2].layer.digest == f.result.layers[2].digest);
  REQUIRE(inv.files.size() == 2);
  CHECK(inv.files[0].dest == "/models/model.bin");
  CHECK(inv.files[0].digest.algorithm() == "sha512");
  CHECK_FALSE(inv.files[0].extracted);
  CHECK(inv.files[1].dest == "/opt/tool");
  CHECK(inv.files[1].extracted);
  CHECK(inv.files[1].layer.name == "proj/tools");
  CHECK(inv.files[1].layer.index == 1);
}

TEST_CASE("sbom: SPDX document content", "[builder][sbom]") {
  Fixture f;
  const json doc = json::parse(builder::spdx_json(f.inventory()));
  CHECK(doc["spdxVersion"] == "SPDX-2.3");
  CHECK(doc["dataLicense"] == "CC0-1.0");
  CHECK(doc["SPDXID"] == "SPDXRef-DOCUMENT");
  CHECK(doc["creationInfo"]["created"] == "2023-11-14T22:13:20Z");
  CHECK(doc["creationInfo"]["creators"] == json::array({"Tool: strata"}));
  CHECK(doc["documentNamespace"] ==
        "https://strata.invalid/spdx/proj-" + f.result.image.manifest.hex());
  const json& packages = doc["packages"];
  REQUIRE(packages.size() == 1 + 5 + 2);

  const json* image = find_by(packages, "SPDXID", "SPDXRef-Image");
  REQUIRE(image != nullptr);
  CHECK((*image)["primaryPackagePurpose"] == "CONTAINER");
  CHECK((*image)["externalRefs"][0]["referenceLocator"] ==
        "pkg:oci/proj@sha256%3A" + f.result.image.manifest.hex() + "?tag=latest");

  const json* attr = find_by(packages, "name", "attr");
  REQUIRE(attr != nullptr);
  CHECK((*attr)["versionInfo"] == "1:2.5.2-1");
  CHECK((*attr)["checksums"][0]["algorithm"] == "SHA256");
  CHECK((*attr)["checksums"][0]["checksumValue"] == oci::Digest::of("attr1:2.5.2-1").hex());
  CHECK((*attr)["externalRefs"][0]["referenceType"] == "purl");
  CHECK((*attr)["externalRefs"][0]["referenceLocator"] ==
        "pkg:deb/debian/attr@1:2.5.2-1?arch=amd64&distro=debian-trixie");
  CHECK((*attr)["licenseConcluded"] == "NOASSERTION");
  const std::string comment = (*attr)["comment"];
  CHECK(comment.find("image layer 1 (base/os, " + f.result.layers[0].digest.str()) !=
        std::string::npos);

  const json* stdcxx = find_by(packages, "name", "libstdc++6");
  REQUIRE(stdcxx != nullptr);
  CHECK((*stdcxx)["SPDXID"] == "SPDXRef-Package-deb-libstdcplusplus6-amd64");

  // Two architectures of one package get distinct ids.
  std::set<std::string> ids;
  for (const auto& p : packages) {
    CHECK(ids.insert(p["SPDXID"].get<std::string>()).second);
  }

  const json* model = find_by(packages, "downloadLocation", "https://example.invalid/model.bin");
  REQUIRE(model != nullptr);
  CHECK((*model)["checksums"][0]["algorithm"] == "SHA512");
  CHECK((*model)["primaryPackagePurpose"] == "FILE");
  const json* tool =
      find_by(packages, "downloadLocation", "https://example.invalid/dl/tool-1.0.tar.gz?x=1");
  REQUIRE(tool != nullptr);
  CHECK((*tool)["name"] == "tool-1.0.tar.gz");
  CHECK((*tool)["primaryPackagePurpose"] == "ARCHIVE");

  // DESCRIBES the image, which CONTAINS every other package.
  const json& rel = doc["relationships"];
  REQUIRE(rel.size() == packages.size());
  CHECK(rel[0]["relationshipType"] == "DESCRIBES");
  CHECK(rel[0]["spdxElementId"] == "SPDXRef-DOCUMENT");
  CHECK(rel[0]["relatedSpdxElement"] == "SPDXRef-Image");
  for (std::size_t i = 1; i < rel.size(); ++i) {
    CHECK(rel[i]["relationshipType"] == "CONTAINS");
    CHECK(rel[i]["spdxElementId"] == "SPDXRef-Image");
  }
}

TEST_CASE("sbom: CycloneDX document content", "[builder][sbom]") {
  Fixture f;
  const json doc = json::parse(builder::cyclonedx_json(f.inventory()));
  CHECK(doc["bomFormat"] == "CycloneDX");
  CHECK(doc["specVersion"] == "1.5");
  CHECK(doc["version"] == 1);
  CHECK(doc["serialNumber"] == builder::cyclonedx_serial_number("proj", f.result.image.manifest));
  CHECK(doc["metadata"]["timestamp"] == "2023-11-14T22:13:20Z");
  CHECK(doc["metadata"]["component"]["type"] == "container");
  const json& components = doc["components"];
  REQUIRE(components.size() == 7);
  const json* hello = find_by(components, "purl",
                              "pkg:deb/debian/hello@2.10-3?arch=i386&distro=debian-trixie");
  REQUIRE(hello != nullptr);
  CHECK((*hello)["type"] == "library");
  CHECK((*hello)["hashes"][0]["alg"] == "SHA-256");
  CHECK((*hello)["hashes"][0]["content"] == oci::Digest::of("hello2.10-3").hex());
  const json* layer = find_by((*hello)["properties"], "name", "strata:layer");
  REQUIRE(layer != nullptr);
  CHECK((*layer)["value"] == "proj/apps");
  const json* file = find_by(components, "name", "model.bin");
  REQUIRE(file != nullptr);
  CHECK((*file)["type"] == "file");
  CHECK((*file)["hashes"][0]["alg"] == "SHA-512");
  CHECK((*file)["externalReferences"][0]["url"] == "https://example.invalid/model.bin");
  std::set<std::string> refs;
  for (const auto& c : components) {
    CHECK(refs.insert(c["bom-ref"].get<std::string>()).second);
  }
}

TEST_CASE("sbom: same inputs give the same bytes; a new version changes them",
          "[builder][sbom]") {
  Fixture a;
  Fixture b;
  CHECK(builder::spdx_json(a.inventory()) == builder::spdx_json(b.inventory()));
  CHECK(builder::cyclonedx_json(a.inventory()) == builder::cyclonedx_json(b.inventory()));
  // Lock order does not matter: packages are sorted.
  std::reverse(b.lock.layers[0].packages.begin(), b.lock.layers[0].packages.end());
  CHECK(builder::spdx_json(a.inventory()) == builder::spdx_json(b.inventory()));
  Fixture c("2.10-4");
  const std::string spdx_c = builder::spdx_json(c.inventory());
  CHECK(spdx_c != builder::spdx_json(a.inventory()));
  CHECK(spdx_c.find("\"versionInfo\": \"2.10-4\"") != std::string::npos);
}

TEST_CASE("sbom: a lock that disagrees or an image of another recipe is refused",
          "[builder][sbom]") {
  Fixture f;
  f.lock.layers[1].request = oci::Digest::of("something else");
  auto e = test::catch_error([&] { (void)f.inventory(); });
  CHECK(e.kind() == util::ErrorKind::Conflict);
  CHECK(std::string(e.what()).find("strata lock") != std::string::npos);

  Fixture g;
  g.result.layers.pop_back();
  e = test::catch_error([&] { (void)g.inventory(); });
  CHECK(e.kind() == util::ErrorKind::InvalidInput);

  Fixture h;
  e = test::catch_error([&] { (void)builder::collect_inventory(h.recipe, nullptr, h.result); });
  CHECK(e.kind() == util::ErrorKind::Conflict);
}

TEST_CASE("sbom: a layer written in parts keeps its name but no single digest",
          "[builder][sbom]") {
  Fixture f;
  // base/os -> 1 image layer; proj's "apps" layer written as two parts.
  const char* owners[] = {"base", "proj", "proj", "proj"};
  f.result.layers.clear();
  for (int i = 0; i < 4; ++i) {
    builder::BuiltLayer l;
    l.digest = oci::Digest::of("part" + std::to_string(i));
    l.recipe = owners[i];
    f.result.layers.push_back(l);
  }
  const auto inv = f.inventory();
  const auto& attr = inv.packages[0];  // in base/os: still exact
  CHECK(attr.layer.exact);
  CHECK(attr.layer.digest == f.result.layers[0].digest);
  const auto& hello = inv.packages[2];
  CHECK(hello.layer.name == "proj/apps");
  CHECK_FALSE(hello.layer.exact);
  const json doc = json::parse(builder::cyclonedx_json(inv));
  const json* c = find_by(doc["components"], "name", "hello");
  REQUIRE(c != nullptr);
  CHECK((*c)["properties"].size() == 3);  // layer, archive, path: no digest or index
  CHECK(builder::spdx_json(inv).find("layer proj/apps (written as several image layers)") !=
        std::string::npos);
}
