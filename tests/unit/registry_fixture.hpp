// Shared fixture for the registry conformance tests: a strata registry server running
// in-process on 127.0.0.1 (a free port) over a fresh TempDir root, with a fake clock, and
// small helpers that speak the distribution API through httplib::Client.
#pragma once

#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "oci/digest.hpp"
#include "registry/server/server.hpp"
#include "util/fs.hpp"

namespace strata::registry::test {

/// A running server; restart() keeps the root (to test persistence).
class TestRegistry {
 public:
  explicit TestRegistry(ServerOptions base = {}) : m_options(std::move(base)) {
    m_options.root = m_dir.path() / "registry";
    m_options.host = "127.0.0.1";
    m_options.port = 0;
    m_options.threads = 4;
    m_options.clock = [this] { return m_now.load(); };
    start();
  }
  ~TestRegistry() { stop(); }
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  void start() {
    m_server = std::make_unique<Server>(m_options);
    m_port = m_server->bind();
    m_thread = std::thread([this] { m_server->run(); });
  }
  void stop() {
    if (m_server) {
      m_server->stop();
      m_thread.join();
      m_server.reset();
    }
  }
  void restart() {
    stop();
    start();
  }

  [[nodiscard]] httplib::Client client() const {
    httplib::Client c("127.0.0.1", m_port);
    c.set_read_timeout(10, 0);
    return c;
  }
  [[nodiscard]] Server& server() { return *m_server; }
  [[nodiscard]] const std::filesystem::path& root() const { return m_options.root; }
  void advance(std::int64_t seconds) { m_now += seconds; }
  [[nodiscard]] std::int64_t now() const { return m_now.load(); }

 private:
  util::TempDir m_dir{"strata-registry-test"};
  ServerOptions m_options;
  std::atomic<std::int64_t> m_now{1700000000};
  std::unique_ptr<Server> m_server;
  std::thread m_thread;
  int m_port = 0;
};

/// The first error code of a spec error body ("" when the body is not one).
inline std::string error_code(const httplib::Result& res) {
  if (!res) {
    return "<no response>";
  }
  try {
    const auto j = nlohmann::json::parse(res->body);
    return j.at("errors").at(0).at("code").get<std::string>();
  } catch (const std::exception&) {
    return "";
  }
}

/// Pushes a blob with a single POST and checks the 201.
inline oci::Digest push_blob(httplib::Client& c, const std::string& repo, const std::string& data,
                             util::HashAlgorithm alg = util::HashAlgorithm::Sha256) {
  const auto digest = oci::Digest::of(data, alg);
  auto res = c.Post("/v2/" + repo + "/blobs/uploads/?digest=" + digest.str(), data,
                    "application/octet-stream");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  return digest;
}

/// An OCI image manifest over the given config and layers (sizes from the strings).
inline std::string image_manifest(const std::string& config, const std::vector<std::string>& layers,
                                  const nlohmann::json& extra = nlohmann::json::object()) {
  nlohmann::json m = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", oci::Digest::of(config).str()},
        {"size", config.size()}}},
      {"layers", nlohmann::json::array()}};
  for (const auto& layer : layers) {
    m["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                           {"digest", oci::Digest::of(layer).str()},
                           {"size", layer.size()}});
  }
  m.update(extra);
  return m.dump();
}

}  // namespace strata::registry::test
