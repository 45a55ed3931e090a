#include <catch2/catch.hpp>

#include "oci/base64.hpp"
#include "oci/image.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"

using namespace strata::oci;
using strata::util::Error;
using strata::util::ErrorKind;

namespace {

const std::string k_a = "sha256:" + std::string(64, 'a');
const std::string k_b = "sha256:" + std::string(64, 'b');
const std::string k_c = "sha256:" + std::string(64, 'c');

Descriptor desc(std::string_view media_type, const std::string& digest, std::int64_t size) {
  Descriptor d;
  d.media_type = media_type;
  d.digest = Digest::parse(digest);
  d.size = size;
  return d;
}

// The message of the InvalidInput error that `f` throws ("" if it does not throw it).
template <typename F>
std::string invalid_input_message(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind() == ErrorKind::InvalidInput ? e.what() : std::string("wrong kind: ") + e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("image: a manifest serialises to the exact canonical bytes") {
  Manifest m;
  m.media_type = media::k_oci_manifest;
  m.config = desc(media::k_oci_config, k_a, 10);
  m.layers.push_back(desc(media::k_oci_layer_zstd, k_b, 20));
  m.annotations["org.opencontainers.image.created"] = "1970-01-01T00:00:00Z";
  CHECK(to_json(m) ==
        R"({"annotations":{"org.opencontainers.image.created":"1970-01-01T00:00:00Z"},)"
        R"("config":{"digest":")" + k_a + R"(","mediaType":"application/vnd.oci.image.config.v1+json","size":10},)"
        R"("layers":[{"digest":")" + k_b + R"(","mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","size":20}],)"
        R"("mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2})");
}

TEST_CASE("image: a manifest with every optional field round-trips byte for byte") {
  Manifest m;
  m.media_type = media::k_oci_manifest;
  m.artifact_type = "application/vnd.example+type";
  m.config = desc(media::k_oci_empty, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", 2);
  m.config.data = "{}";
  Descriptor layer = desc(media::k_oci_layer_gzip, k_b, 123456789012LL);
  layer.urls = {"https://example.invalid/blob"};
  layer.annotations = {{"b", "2"}, {"a", "1"}};
  m.layers = {layer, desc(media::k_oci_layer_tar, k_c, 0)};
  m.subject = desc(media::k_oci_manifest, k_a, 99);
  m.annotations = {{"z", "last"}, {"k", "ünïcode"}};

  const std::string json = to_json(m);
  CHECK(json.find("\"data\":\"e30=\"") != std::string::npos);  // base64 of "{}"
  const Manifest back = parse_manifest(json, "test");
  CHECK(back.artifact_type == m.artifact_type);
  CHECK(back.config.data == "{}");
  REQUIRE(back.layers.size() == 2);
  CHECK(back.layers[0].size == 123456789012LL);
  CHECK(back.layers[0].urls == layer.urls);
  CHECK(back.layers[0].annotations == layer.annotations);
  REQUIRE(back.subject.has_value());
  CHECK(back.subject->digest == Digest::parse(k_a));
  CHECK(to_json(back) == json);
}

TEST_CASE("image: an index with platforms round-trips byte for byte") {
  Index idx;
  idx.media_type = media::k_oci_index;
  Descriptor amd = desc(media::k_oci_manifest, k_a, 500);
  amd.platform = Platform{"amd64", "linux", "", "", {}};
  Descriptor arm = desc(media::k_oci_manifest, k_b, 501);
  arm.platform = Platform{"arm64", "linux", "v8", "10.0", {"sse4"}};
  idx.manifests = {amd, arm};
  const std::string json = to_json(idx);
  CHECK(json.find(R"("platform":{"architecture":"arm64","os":"linux","os.features":["sse4"],"os.version":"10.0","variant":"v8"})") !=
        std::string::npos);
  const Index back = parse_index(json, "test");
  REQUIRE(back.manifests.size() == 2);
  CHECK(back.manifests[1].platform == arm.platform);
  CHECK(to_json(back) == json);

  Index empty;
  empty.media_type = media::k_oci_index;
  CHECK(to_json(empty) == R"({"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2})");
}

TEST_CASE("image: an image config round-trips and omits empty fields") {
  ImageConfig c;
  c.created = format_rfc3339(1700000000);
  c.architecture = "amd64";
  c.os = "linux";
  c.config.user = "1000:1000";
  c.config.exposed_ports = {"8888/tcp"};
  c.config.env = {"PATH=/usr/bin", "A=b=c"};
  c.config.has_entrypoint = true;  // explicitly empty entrypoint
  c.config.cmd = {"jupyter", "lab"};
  c.config.has_cmd = true;
  c.config.volumes = {"/data"};
  c.config.working_dir = "/work";
  c.config.labels = {{"org.example", "x"}};
  c.config.stop_signal = "SIGINT";
  c.diff_ids = {Digest::parse(k_a), Digest::parse(k_b)};
  c.history = {{c.created, "strata debian", "", "", false}, {c.created, "ENV", "", "meta", true}};

  const std::string json = to_json(c);
  CHECK(json ==
        R"({"architecture":"amd64","config":{"Cmd":["jupyter","lab"],"Entrypoint":[],"Env":["PATH=/usr/bin","A=b=c"],)"
        R"("ExposedPorts":{"8888/tcp":{}},"Labels":{"org.example":"x"},"StopSignal":"SIGINT","User":"1000:1000",)"
        R"("Volumes":{"/data":{}},"WorkingDir":"/work"},"created":"2023-11-14T22:13:20Z",)"
        R"("history":[{"created":"2023-11-14T22:13:20Z","created_by":"strata debian"},)"
        R"({"comment":"meta","created":"2023-11-14T22:13:20Z","created_by":"ENV","empty_layer":true}],)"
        R"("os":"linux","rootfs":{"diff_ids":[")" + k_a + R"(",")" + k_b + R"("],"type":"layers"}})");
  const ImageConfig back = parse_image_config(json, "test");
  CHECK(back.config.has_entrypoint);
  CHECK(back.config.entrypoint.empty());
  CHECK(back.config.cmd == c.config.cmd);
  CHECK(back.config.env == c.config.env);
  CHECK(back.history.size() == 2);
  CHECK(back.history[1].empty_layer);
  CHECK(to_json(back) == json);

  ImageConfig minimal;
  minimal.architecture = "arm64";
  minimal.os = "linux";
  CHECK(to_json(minimal) == R"({"architecture":"arm64","os":"linux","rootfs":{"diff_ids":[],"type":"layers"}})");
}

TEST_CASE("image: Docker v2 schema2 documents are read") {
  const std::string manifest = R"({
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": ")" + k_a + R"("},
    "layers": [
      {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": ")" + k_b + R"("},
      {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "size": 1, "digest": ")" + k_c + R"(",
       "urls": ["https://example.invalid/layer"]}
    ]})";
  const Manifest m = parse_manifest(manifest, "docker");
  CHECK(media::is_manifest(m.media_type));
  CHECK(m.config.media_type == media::k_docker_config);
  REQUIRE(m.layers.size() == 2);
  CHECK(media::layer_compression(m.layers[0].media_type) == media::LayerCompression::Gzip);
  CHECK(media::layer_compression(m.layers[1].media_type) == media::LayerCompression::Gzip);
  CHECK(detect_media_type(manifest, "docker") == media::k_docker_manifest);

  const std::string list = R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
    "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":7143,"digest":")" + k_a + R"(",
    "platform":{"architecture":"ppc64le","os":"linux"}},
    {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":7682,"digest":")" + k_b + R"(",
    "platform":{"architecture":"arm","os":"linux","variant":"v7","features":["sse4"]}}]})";
  const Index idx = parse_index(list, "list");
  CHECK(media::is_index(idx.media_type));
  REQUIRE(idx.manifests.size() == 2);
  CHECK(idx.manifests[1].platform->str() == "linux/arm/v7");

  // A Docker config carries many fields strata does not model, and nulls.
  const std::string config = R"({"architecture":"amd64","os":"linux","docker_version":"24.0.7",
    "config":{"Hostname":"","Env":["PATH=/bin"],"Cmd":["/bin/sh"],"Entrypoint":null,"Volumes":null,
    "Labels":null,"OnBuild":null,"ExposedPorts":{"80/tcp":{}}},
    "container_config":{"Cmd":["/bin/sh","-c","#(nop) CMD"]},
    "created":"2024-01-01T00:00:00.123456789Z",
    "history":[{"created":"2024-01-01T00:00:00Z","created_by":"/bin/sh -c #(nop) ADD file"}],
    "rootfs":{"type":"layers","diff_ids":[")" + k_c + R"("]}})";
  const ImageConfig c = parse_image_config(config, "docker config");
  CHECK(c.config.cmd == std::vector<std::string>{"/bin/sh"});
  CHECK_FALSE(c.config.has_entrypoint);
  CHECK(c.config.exposed_ports == std::vector<std::string>{"80/tcp"});
  CHECK(c.diff_ids == std::vector<Digest>{Digest::parse(k_c)});
}

TEST_CASE("image: malformed documents are rejected naming the document and field") {
  const std::string good_layer = R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + k_b + R"(","size":1})";
  auto manifest_with_layers = [&](const std::string& layers) {
    return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":")" +
           k_a + R"(","size":1},"layers":[)" + layers + "]}";
  };
  auto parse_m = [](const std::string& json) {
    return invalid_input_message([&] { (void)parse_manifest(json, "sha256:abcd"); });
  };

  CHECK_THAT(parse_m(manifest_with_layers(good_layer + "," + good_layer +
                                          R"(,{"mediaType":"x","digest":"sha256:zz","size":1})")),
             Catch::StartsWith("manifest sha256:abcd: layers[2].digest: ") && Catch::Contains("sha256:zz"));
  CHECK_THAT(parse_m(manifest_with_layers(R"({"mediaType":"x","digest":")" + k_b + R"(","size":"1"})")),
             Catch::Contains("layers[0].size: expected an integer, got a string"));
  CHECK_THAT(parse_m(manifest_with_layers(R"({"mediaType":"x","digest":")" + k_b + R"(","size":-1})")),
             Catch::Contains("layers[0].size: must not be negative"));
  CHECK_THAT(parse_m(manifest_with_layers(R"({"mediaType":"x","digest":")" + k_b + R"(","size":1.5})")),
             Catch::Contains("layers[0].size: expected an integer"));
  CHECK_THAT(parse_m(manifest_with_layers(R"({"digest":")" + k_b + R"(","size":1})")),
             Catch::Contains("layers[0].mediaType: missing"));
  CHECK_THAT(parse_m(manifest_with_layers(R"({"mediaType":"x","digest":")" + k_b + R"(","size":1,"annotations":{"a":1}})")),
             Catch::Contains("layers[0].annotations.a: expected a string"));
  CHECK_THAT(parse_m(manifest_with_layers(R"({"mediaType":"x","digest":")" + k_b + R"(","size":2,"data":"e30="})")),
             Catch::Contains("layers[0].data: does not match digest"));
  CHECK_THAT(parse_m(manifest_with_layers(R"({"mediaType":"x","digest":")" + k_b + R"(","size":2,"data":"!!"})")),
             Catch::Contains("layers[0].data: not valid base64"));
  CHECK_THAT(parse_m(R"({"schemaVersion":2,"layers":[]})"), Catch::Contains("config: missing"));
  CHECK_THAT(parse_m(R"({"schemaVersion":3,"config":{},"layers":[]})"), Catch::Contains("schemaVersion: must be 2"));
  CHECK_THAT(parse_m(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})"),
             Catch::Contains("mediaType") && Catch::Contains("index"));
  CHECK_THAT(parse_m(R"([1,2])"), Catch::Contains("expected a JSON object"));
  CHECK_THAT(parse_m(R"({"schemaVersion":2,)"), Catch::StartsWith("manifest sha256:abcd: not valid JSON"));

  // Docker schema 1 is valid but unsupported.
  try {
    (void)parse_manifest(R"({"schemaVersion":1,"name":"x","fsLayers":[]})", "old");
    FAIL("schema 1 accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Unsupported);
  }

  CHECK_THAT(invalid_input_message([] { (void)parse_index(R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"md5:1","size":1,"platform":{"os":"linux"}}]})", "idx"); }),
             Catch::Contains("index idx: manifests[0].platform.architecture: missing"));
  CHECK_THAT(invalid_input_message([] { (void)parse_image_config(R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:00"]}})", "cfg"); }),
             Catch::Contains("image config cfg: rootfs.diff_ids[0]: "));
  CHECK_THAT(invalid_input_message([] { (void)parse_image_config(R"({"architecture":"amd64","os":"linux","rootfs":{"type":"tar","diff_ids":[]}})", "cfg"); }),
             Catch::Contains("rootfs.type"));
  CHECK_THAT(invalid_input_message([] { (void)parse_image_config(R"({"os":"linux","rootfs":{"type":"layers","diff_ids":[]}})", "cfg"); }),
             Catch::Contains("architecture: missing"));
  CHECK_THAT(invalid_input_message([] { (void)parse_image_config(R"({"architecture":"amd64","os":"linux","config":{"Env":"A=B"},"rootfs":{"type":"layers","diff_ids":[]}})", "cfg"); }),
             Catch::Contains("config.Env: expected an array"));
  CHECK_THAT(invalid_input_message([] { (void)parse_image_config(R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":[{"empty_layer":"yes"}]})", "cfg"); }),
             Catch::Contains("history[0].empty_layer: expected a boolean"));
}

TEST_CASE("image: embedded data must match the descriptor") {
  const std::string ok = R"({"schemaVersion":2,"manifests":[{"mediaType":"x","size":2,"data":"e30=","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]})";
  CHECK(parse_index(ok, "i").manifests[0].data == "{}");
  const std::string wrong = R"({"schemaVersion":2,"manifests":[{"mediaType":"x","size":2,"data":"e31=","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]})";
  CHECK_THAT(invalid_input_message([&] { (void)parse_index(wrong, "i"); }), Catch::Contains("manifests[0].data"));
}

TEST_CASE("image: strings that are not UTF-8 cannot be serialised") {
  ImageConfig c;
  c.architecture = "amd64";
  c.os = "linux";
  c.author = "\xff\xfe";
  CHECK_THAT(invalid_input_message([&] { (void)to_json(c); }), Catch::Contains("UTF-8"));
}

TEST_CASE("image: detect_media_type uses the field, else the shape") {
  CHECK(detect_media_type(R"({"schemaVersion":2,"manifests":[]})", "x") == media::k_oci_index);
  CHECK(detect_media_type(R"({"schemaVersion":2,"config":{},"layers":[]})", "x") == media::k_oci_manifest);
  CHECK(detect_media_type(R"({"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"})", "x") ==
        media::k_docker_manifest_list);
  CHECK_THAT(invalid_input_message([] { (void)detect_media_type(R"({"schemaVersion":2})", "blob1"); }),
             Catch::Contains("blob1"));
}

TEST_CASE("image: media type classification") {
  using media::LayerCompression;
  CHECK(media::layer_compression(media::k_oci_layer_tar) == LayerCompression::None);
  CHECK(media::layer_compression(media::k_oci_layer_nondist_zstd) == LayerCompression::Zstd);
  CHECK(media::layer_compression(media::k_oci_layer_zstd) == LayerCompression::Zstd);
  CHECK(media::layer_compression(media::k_docker_layer_gzip) == LayerCompression::Gzip);
  CHECK(media::layer_compression(media::k_oci_config) == LayerCompression::Unknown);
  CHECK(media::is_layer(media::k_oci_layer_gzip));
  CHECK_FALSE(media::is_layer(media::k_oci_manifest));
  CHECK(media::is_manifest(media::k_docker_manifest));
  CHECK_FALSE(media::is_manifest(media::k_oci_index));
  CHECK(media::is_index(media::k_docker_manifest_list));
}

TEST_CASE("image: platforms parse, print and describe the host") {
  CHECK(Platform::parse("linux/amd64").str() == "linux/amd64");
  CHECK(Platform::parse("linux/arm64/v8").variant == "v8");
  CHECK(Platform::parse("linux/x86_64").architecture == "amd64");
  CHECK(Platform::parse("linux/aarch64").architecture == "arm64");
  CHECK(Platform::parse("linux/armhf").str() == "linux/arm/v7");
  for (const char* bad : {"", "linux", "linux/", "/amd64", "linux/amd64/v8/x", "linux/am d64"}) {
    INFO(bad);
    CHECK_THAT(invalid_input_message([&] { (void)Platform::parse(bad); }), Catch::Contains("platform"));
  }
  const Platform host = Platform::host();
  CHECK(host.os == "linux");
  CHECK_FALSE(host.architecture.empty());
  CHECK(host.architecture != "x86_64");
  CHECK(host.architecture != "aarch64");
}

TEST_CASE("image: RFC 3339 formatting in UTC") {
  CHECK(format_rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(1714564800) == "2024-05-01T12:00:00Z");
  CHECK(format_rfc3339(951782400) == "2000-02-29T00:00:00Z");
}

TEST_CASE("image: base64 codec is canonical") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all += static_cast<char>(i);
  }
  CHECK(base64_decode(base64_encode(all)) == all);
  CHECK(base64_decode("Zm8=") == std::string("fo"));
  CHECK_FALSE(base64_decode("Zm8").has_value());     // missing padding
  CHECK_FALSE(base64_decode("Zm9=").has_value());    // non-zero unused bits
  CHECK_FALSE(base64_decode("Zm=v").has_value());    // padding in the middle
  CHECK_FALSE(base64_decode("Zm_v").has_value());    // URL alphabet
  CHECK_FALSE(base64_decode("Zm9v\n").has_value());
}
