#include "registry/client/client.hpp"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "oci/image.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

namespace strata::registry::client {
namespace {

using util::ErrorKind;

std::string host_only(const std::string& registry) {
  if (registry.starts_with("[")) {
    return registry.substr(1, registry.find(']') - 1);
  }
  const auto colon = registry.rfind(':');
  return colon == std::string::npos ? registry : registry.substr(0, colon);
}

std::string with_query(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

/// At most `limit` bytes of another source.
class LimitedSource final : public util::Source {
 public:
  LimitedSource(util::Source& from, std::uint64_t limit) : m_from(from), m_left(limit) {}
  std::size_t read(void* data, std::size_t size) override {
    if (m_left == 0) {
      return 0;
    }
    const std::size_t n =
        m_from.read(data, static_cast<std::size_t>(std::min<std::uint64_t>(size, m_left)));
    m_left -= n;
    return n;
  }

 private:
  util::Source& m_from;
  std::uint64_t m_left;
};

std::string accept_header() {
  return "Accept: " + std::string(oci::media::k_oci_manifest) + ", " +
         std::string(oci::media::k_oci_index) + ", " +
         std::string(oci::media::k_docker_manifest) + ", " +
         std::string(oci::media::k_docker_manifest_list);
}

std::string strip_params(std::string media_type) {
  const auto semi = media_type.find(';');
  if (semi != std::string::npos) {
    media_type.resize(semi);
  }
  while (!media_type.empty() && media_type.back() == ' ') {
    media_type.pop_back();
  }
  return media_type;
}

}  // namespace

bool use_plain_http(const std::string& registry) {
  const std::string host = host_only(registry);
  if (host == "localhost" || host == "::1" || host.starts_with("127.")) {
    return true;
  }
  if (const char* list = std::getenv("STRATA_INSECURE_REGISTRIES"); list != nullptr) {
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty() && (item == registry || item == host)) {
        return true;
      }
    }
  }
  return false;
}

/// Borrows an HttpClient from the pool for one request.
class RegistryClient::Lease {
 public:
  explicit Lease(RegistryClient& c) : m_client(c) {
    std::lock_guard lock(c.m_mutex);
    if (!c.m_pool.empty()) {
      m_http = std::move(c.m_pool.back());
      c.m_pool.pop_back();
    }
    if (!m_http) {
      m_http = std::make_unique<HttpClient>(c.m_options.http);
    }
  }
  ~Lease() {
    std::lock_guard lock(m_client.m_mutex);
    m_client.m_pool.push_back(std::move(m_http));
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  HttpClient& operator*() { return *m_http; }

 private:
  RegistryClient& m_client;
  std::unique_ptr<HttpClient> m_http;
};

RegistryClient::RegistryClient(std::string registry, ClientOptions options)
    : m_registry(std::move(registry)),
      m_options(std::move(options)),
      m_auth(m_registry, [this]() -> std::optional<Credential> {
        if (m_options.credentials) {
          return m_options.credentials(m_registry);
        }
        return lookup_credential(m_registry, docker_config_path());
      }) {
  const bool plain = m_options.plain_http || use_plain_http(m_registry);
  m_base = (plain ? "http://" : "https://") + registry_host(m_registry);
}

RegistryClient::~RegistryClient() = default;

void RegistryClient::add_scope(const std::string& repo, const std::string& actions) {
  std::lock_guard lock(m_mutex);
  m_scopes.push_back("repository:" + repo + ":" + actions);
  m_scopes = merge_scopes(m_scopes);
}

std::vector<std::string> RegistryClient::scopes() const {
  std::lock_guard lock(m_mutex);
  return m_scopes;
}

ClientStats RegistryClient::stats() const {
  std::lock_guard lock(m_mutex);
  return m_stats;
}

HttpResponse RegistryClient::send(HttpRequest request) {
  Lease http(*this);
  const auto sc = scopes();
  const auto base_headers = request.headers;
  HttpResponse res;
  for (int attempt = 0; attempt < 2; ++attempt) {
    request.headers = base_headers;
    if (auto h = m_auth.header(sc); !h.empty()) {
      request.headers.push_back(h);
    }
    res = (*http).perform(request);
    {
      std::lock_guard lock(m_mutex);
      ++m_stats.requests;
    }
    if (res.status != 401 || attempt == 1 || request.body != nullptr) {
      // A streamed body cannot be replayed here; the caller's retry restarts it.
      if (res.status == 401 && request.body != nullptr && attempt == 0) {
        m_auth.authenticate(*http, res, sc);
        util::fail(ErrorKind::Timeout, request.method + " " + request.url +
                                           ": authenticated after a 401, retrying the upload");
      }
      break;
    }
    m_auth.authenticate(*http, res, sc);
  }
  return res;
}

void RegistryClient::fail_status(const HttpResponse& res, const std::string& what) const {
  std::string detail;
  try {
    const auto j = nlohmann::json::parse(res.body);
    const auto& e = j.at("errors").at(0);
    detail = e.value("code", "") + ": " + e.value("message", "");
  } catch (const std::exception&) {
    detail = res.body.substr(0, 200);
  }
  const std::string msg = what + " at " + m_registry + ": HTTP " + std::to_string(res.status) +
                          (detail.empty() ? "" : " (" + detail + ")");
  if (res.status == 401 || res.status == 403) {
    util::fail(ErrorKind::Unauthorized,
               msg + "; check your access or run `strata login " + m_registry + "`");
  }
  if (res.status == 404) {
    util::fail(ErrorKind::NotFound, msg);
  }
  if (res.status == 429 || res.status >= 500) {
    util::fail(ErrorKind::Timeout, msg);
  }
  util::fail(ErrorKind::InvalidInput, msg);
}

void RegistryClient::with_retries(const std::string& what, const std::function<void()>& fn) {
  auto delay = m_options.backoff;
  for (int attempt = 0;; ++attempt) {
    try {
      fn();
      return;
    } catch (const util::Error& e) {
      if (e.kind() != ErrorKind::Timeout || attempt >= m_options.retries) {
        throw;
      }
    }
    std::this_thread::sleep_for(delay);
    delay *= 2;
    (void)what;
  }
}

void RegistryClient::ping() {
  with_retries("ping", [&] {
    HttpRequest req;
    req.url = m_base + "/v2/";
    const auto res = send(req);
    if (res.status != 200) {
      fail_status(res, "GET /v2/");
    }
  });
}

std::optional<std::uint64_t> RegistryClient::blob_size(const std::string& repo,
                                                       const oci::Digest& digest) {
  std::optional<std::uint64_t> out;
  with_retries("HEAD blob", [&] {
    HttpRequest req;
    req.method = "HEAD";
    req.url = m_base + "/v2/" + repo + "/blobs/" + digest.str();
    const auto res = send(req);
    if (res.status == 404) {
      out.reset();
      return;
    }
    if (res.status != 200) {
      fail_status(res, "HEAD blob " + digest.str() + " in " + repo);
    }
    const std::string len = res.header("Content-Length");
    out = len.empty() ? 0 : std::stoull(len);
  });
  return out;
}

std::uint64_t RegistryClient::fetch_blob(const std::string& repo, const oci::Digest& digest,
                                         util::Sink& sink, std::uint64_t offset) {
  HttpRequest req;
  req.url = m_base + "/v2/" + repo + "/blobs/" + digest.str();
  req.sink = &sink;
  if (offset > 0) {
    req.headers.push_back("Range: bytes=" + std::to_string(offset) + "-");
    req.range_start = offset;  // a 200 (range ignored) has its first bytes dropped
  }
  const auto res = send(req);
  if (res.status != 200 && res.status != 206) {
    fail_status(res, "GET blob " + digest.str() + " in " + repo);
  }
  {
    std::lock_guard lock(m_mutex);
    m_stats.bytes_downloaded += res.sink_bytes;
  }
  return res.sink_bytes;
}

std::string RegistryClient::read_blob(const std::string& repo, const oci::Digest& digest) {
  std::string data;
  with_retries("GET blob", [&] {
    util::StringSink sink;
    fetch_blob(repo, digest, sink);
    data = sink.take();
  });
  if (oci::Digest::of(data, digest.hash_algorithm().value_or(util::HashAlgorithm::Sha256)) !=
      digest) {
    util::fail(ErrorKind::Corruption,
               "blob " + digest.str() + " from " + m_registry + "/" + repo + " does not match its digest");
  }
  return data;
}

bool RegistryClient::mount_blob(const std::string& repo, const oci::Digest& digest,
                                const std::string& from) {
  bool mounted = false;
  with_retries("mount", [&] {
    HttpRequest req;
    req.method = "POST";
    req.url = m_base + "/v2/" + repo + "/blobs/uploads/?mount=" + url_encode(digest.str()) +
              "&from=" + url_encode(from);
    const auto res = send(req);
    if (res.status == 201) {
      mounted = true;
      return;
    }
    if (res.status == 202) {
      const auto loc = res.header("Location");
      if (!loc.empty()) {
        HttpRequest cancel;
        cancel.method = "DELETE";
        cancel.url = resolve_url(m_base + "/v2/", loc);
        (void)send(cancel);
      }
      mounted = false;
      return;
    }
    fail_status(res, "mount of " + digest.str() + " from " + from + " into " + repo);
  });
  if (mounted) {
    std::lock_guard lock(m_mutex);
    ++m_stats.blobs_mounted;
  }
  return mounted;
}

void RegistryClient::upload_blob(const std::string& repo, const oci::Digest& digest,
                                 std::uint64_t size, const SourceFactory& open) {
  const std::string what = "upload of " + digest.str() + " to " + repo;
  with_retries(what, [&] {
    HttpRequest post;
    post.method = "POST";
    post.url = m_base + "/v2/" + repo + "/blobs/uploads/";
    auto res = send(post);
    if (res.status != 202) {
      fail_status(res, what);
    }
    std::string location = res.header("Location");
    if (location.empty()) {
      util::fail(ErrorKind::InvalidInput, what + ": the registry sent no Location header");
    }
    location = resolve_url(res.effective_url, location);
    auto source = open();
    if (size > m_options.monolithic_max) {
      std::uint64_t chunk = m_options.chunk_size;
      if (const auto min = res.header("OCI-Chunk-Min-Length"); !min.empty()) {
        chunk = std::max<std::uint64_t>(chunk, std::stoull(min));
      }
      std::uint64_t sent = 0;
      while (sent < size) {
        const std::uint64_t n = std::min(chunk, size - sent);
        LimitedSource part(*source, n);
        HttpRequest patch;
        patch.method = "PATCH";
        patch.url = location;
        patch.headers = {"Content-Type: application/octet-stream",
                         "Content-Range: " + std::to_string(sent) + "-" +
                             std::to_string(sent + n - 1)};
        patch.body = &part;
        patch.body_size = n;
        res = send(patch);
        if (res.status != 202) {
          fail_status(res, what + " (chunk at " + std::to_string(sent) + ")");
        }
        sent += n;
        if (const auto loc = res.header("Location"); !loc.empty()) {
          location = resolve_url(res.effective_url, loc);
        }
      }
      HttpRequest put;
      put.method = "PUT";
      put.url = with_query(location, "digest=" + url_encode(digest.str()));
      res = send(put);
    } else {
      HttpRequest put;
      put.method = "PUT";
      put.url = with_query(location, "digest=" + url_encode(digest.str()));
      put.headers = {"Content-Type: application/octet-stream"};
      put.body = source.get();
      put.body_size = size;
      res = send(put);
    }
    if (res.status != 201) {
      fail_status(res, what);
    }
  });
  std::lock_guard lock(m_mutex);
  ++m_stats.blobs_uploaded;
  m_stats.bytes_uploaded += size;
}

std::optional<ManifestBytes> RegistryClient::get_manifest(const std::string& repo,
                                                          const std::string& reference) {
  std::optional<ManifestBytes> out;
  with_retries("GET manifest", [&] {
    HttpRequest req;
    req.url = m_base + "/v2/" + repo + "/manifests/" + reference;
    req.headers = {accept_header()};
    req.max_body = 4 * 1024 * 1024;
    const auto res = send(req);
    if (res.status == 404) {
      out.reset();
      return;
    }
    if (res.status != 200) {
      fail_status(res, "GET manifest " + repo + ":" + reference);
    }
    ManifestBytes m;
    m.bytes = res.body;
    m.media_type = strip_params(res.header("Content-Type"));
    if (!oci::media::is_manifest(m.media_type) && !oci::media::is_index(m.media_type)) {
      m.media_type = oci::detect_media_type(m.bytes, repo + ":" + reference);
    }
    const auto want = oci::Digest::try_parse(reference);
    m.digest = oci::Digest::of(m.bytes, want && want->hash_algorithm()
                                            ? *want->hash_algorithm()
                                            : util::HashAlgorithm::Sha256);
    if (want && *want != m.digest) {
      util::fail(ErrorKind::Corruption, "manifest " + reference + " from " + m_registry + "/" +
                                            repo + " hashes to " + m.digest.str());
    }
    out = std::move(m);
  });
  return out;
}

std::optional<oci::Digest> RegistryClient::head_manifest(const std::string& repo,
                                                         const std::string& reference) {
  std::optional<oci::Digest> out;
  with_retries("HEAD manifest", [&] {
    HttpRequest req;
    req.method = "HEAD";
    req.url = m_base + "/v2/" + repo + "/manifests/" + reference;
    req.headers = {accept_header()};
    const auto res = send(req);
    if (res.status == 404) {
      out.reset();
      return;
    }
    if (res.status != 200) {
      fail_status(res, "HEAD manifest " + repo + ":" + reference);
    }
    out = oci::Digest::try_parse(res.header("Docker-Content-Digest"));
  });
  return out;
}

oci::Digest RegistryClient::put_manifest(const std::string& repo, const std::string& reference,
                                         const std::string& bytes, const std::string& media_type) {
  const oci::Digest digest = oci::Digest::of(bytes);
  with_retries("PUT manifest", [&] {
    util::StringSource body(bytes);
    HttpRequest req;
    req.method = "PUT";
    req.url = m_base + "/v2/" + repo + "/manifests/" + reference;
    req.headers = {"Content-Type: " + media_type};
    req.body = &body;
    req.body_size = bytes.size();
    const auto res = send(req);
    if (res.status != 201 && res.status != 200) {
      fail_status(res, "PUT manifest " + repo + ":" + reference);
    }
    const auto reported = oci::Digest::try_parse(res.header("Docker-Content-Digest"));
    if (reported && reported->algorithm() == "sha256" && *reported != digest) {
      util::fail(ErrorKind::Corruption, m_registry + " stored manifest " + repo + ":" +
                                            reference + " as " + reported->str() +
                                            " but its bytes hash to " + digest.str());
    }
  });
  return digest;
}

std::vector<std::string> RegistryClient::list_tags(const std::string& repo, std::size_t page) {
  std::vector<std::string> tags;
  std::string url = m_base + "/v2/" + repo + "/tags/list";
  if (page > 0) {
    url += "?n=" + std::to_string(page);
  }
  for (int pages = 0; !url.empty() && pages < 100000; ++pages) {
    HttpResponse res;
    with_retries("tags", [&] {
      HttpRequest req;
      req.url = url;
      res = send(req);
      if (res.status != 200) {
        fail_status(res, "GET tags of " + repo);
      }
    });
    try {
      const auto j = nlohmann::json::parse(res.body);
      if (j.contains("tags") && j["tags"].is_array()) {
        for (const auto& t : j["tags"]) {
          tags.push_back(t.get<std::string>());
        }
      }
    } catch (const nlohmann::json::exception& e) {
      util::fail(ErrorKind::InvalidInput,
                 "tag list of " + repo + " from " + m_registry + " is not valid JSON: " + e.what());
    }
    url.clear();
    const std::string link = res.header("Link");
    const auto lt = link.find('<');
    const auto gt = link.find('>');
    if (lt != std::string::npos && gt != std::string::npos && gt > lt &&
        link.find("rel=\"next\"") != std::string::npos) {
      url = resolve_url(res.effective_url, link.substr(lt + 1, gt - lt - 1));
    }
  }
  return tags;
}

}  // namespace strata::registry::client
