// Helpers for the registry client tests: images made in a store, and a tiny httplib
// server on a free loopback port for scripted misbehaviour (tampered blobs, cut-off
// responses, token auth).
#pragma once

#include <httplib.h>

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cache/store.hpp"
#include "oci/digest.hpp"
#include "oci/media_types.hpp"

namespace strata::registry::test {

/// An image stored in `store` and tagged `tag`: a config and the given layer bytes.
struct StoredImage {
  oci::Digest manifest;
  std::string manifest_json;
  std::vector<oci::Digest> blobs;  // config, then layers
};

inline StoredImage store_image(cache::Store& store, const std::string& tag,
                               const std::vector<std::string>& layers,
                               const std::string& config_extra = "") {
  const std::string config =
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":")" +
      config_extra + "\"}";
  nlohmann::json m = {{"schemaVersion", 2},
                      {"mediaType", std::string(oci::media::k_oci_manifest)},
                      {"config",
                       {{"mediaType", std::string(oci::media::k_oci_config)},
                        {"digest", oci::Digest::of(config).str()},
                        {"size", config.size()}}},
                      {"layers", nlohmann::json::array()}};
  StoredImage img;
  img.blobs.push_back(store.put_blob(config, std::string(oci::media::k_oci_config)));
  for (const auto& l : layers) {
    img.blobs.push_back(store.put_blob(l, std::string(oci::media::k_oci_layer_gzip)));
    m["layers"].push_back({{"mediaType", std::string(oci::media::k_oci_layer_gzip)},
                           {"digest", oci::Digest::of(l).str()},
                           {"size", l.size()}});
  }
  img.manifest_json = m.dump();
  img.manifest = store.put_blob(img.manifest_json, std::string(oci::media::k_oci_manifest));
  store.set_tag(cache::TagRecord{tag, img.manifest, std::string(oci::media::k_oci_manifest), 0});
  return img;
}

/// An httplib server on 127.0.0.1 (free port) running on its own thread until destroyed.
class FakeServer {
 public:
  explicit FakeServer(const std::function<void(httplib::Server&)>& setup) {
    setup(m_server);
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~FakeServer() {
    while (!m_server.is_running()) {  // stop() before listen starts would be lost
      std::this_thread::yield();
    }
    m_server.stop();
    m_thread.join();
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;
  [[nodiscard]] std::string host() const { return "127.0.0.1:" + std::to_string(m_port); }
  [[nodiscard]] int port() const { return m_port; }

 private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

}  // namespace strata::registry::test
