// A small HTTP client over libcurl for the registry client: one request at a time per
// HttpClient, bodies streamed from a util::Source and to a util::Sink so that memory stays
// flat whatever the blob size. Network failures become util::Error of kind Timeout (the
// retryable kind); HTTP statuses are returned, never thrown, so callers decide.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/io.hpp"

namespace strata::registry::client {

/// Transport settings. Plain value.
struct HttpOptions {
  bool insecure_tls = false;     // skip TLS certificate and host verification
  long connect_timeout_s = 30;   // TCP + TLS connect
  long low_speed_time_s = 60;    // abort when under 1 byte/s for this long
  std::string user_agent = "strata";
};

/// One request. `body` (if set) is streamed as the request body with `body_size` bytes
/// (nullopt: chunked transfer encoding). `sink` (if set) receives a 2xx response body;
/// other bodies and all bodies without a sink land in HttpResponse::body (capped).
struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  util::Source* body = nullptr;
  std::optional<std::uint64_t> body_size;
  util::Sink* sink = nullptr;
  bool follow_redirects = true;
  /// The first byte asked for with a Range header: when the server ignores the range and
  /// answers 200 with the whole body, that many leading bytes are dropped before the sink.
  std::uint64_t range_start = 0;
  std::size_t max_body = 8 * 1024 * 1024;  // cap for captured bodies (bigger: IO error)
};

/// A response: status, headers of the final response (names lowercased), captured body.
struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string effective_url;  // after redirects
  std::uint64_t sink_bytes = 0;  // bytes written to the request's sink

  /// The first header with this (case-insensitive) name, or "".
  [[nodiscard]] std::string header(std::string_view name) const;
  /// Every header with this name, in order.
  [[nodiscard]] std::vector<std::string> headers_named(std::string_view name) const;
};

/// Owns one CURL easy handle (connections are reused between requests). Not thread-safe:
/// use one per thread. Move-only.
class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  /// Performs the request. Throws Timeout (connection refused, reset, timed out, TLS
  /// failure) naming the URL, or whatever the sink/source threw.
  HttpResponse perform(const HttpRequest& request);

  [[nodiscard]] const HttpOptions& options() const noexcept { return m_options; }

 private:
  struct Impl;
  HttpOptions m_options;
  std::unique_ptr<Impl> m_impl;
};

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view text);

/// Resolves a Location header against the URL of the request that returned it.
std::string resolve_url(const std::string& base, const std::string& location);

}  // namespace strata::registry::client
