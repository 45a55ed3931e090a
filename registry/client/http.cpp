// libcurl transport. The write callback looks at the status of the response being received:
// a 2xx body streams to the caller's sink, anything else is captured (for error messages
// and JSON error bodies). Exceptions thrown by sinks and sources are caught inside the
// callbacks (they must not unwind through C), curl is told to abort, and the exception is
// rethrown after curl_easy_perform returns.
#include "registry/client/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <mutex>

#include "util/error.hpp"

namespace strata::registry::client {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

/// State shared with the callbacks of one transfer.
struct Transfer {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  std::exception_ptr error;
  std::uint64_t skipped = 0;
};

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response (redirect, 100 Continue)
    return size * n;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response->headers.emplace_back(lower(trim(line.substr(0, colon))),
                                      trim(line.substr(colon + 1)));
  }
  return size * n;
}

std::size_t on_write(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t len = size * n;
  try {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->request->sink != nullptr && status >= 200 && status < 300) {
      std::size_t skip = 0;
      if (status == 200 && t->skipped < t->request->range_start) {
        skip = static_cast<std::size_t>(
            std::min<std::uint64_t>(len, t->request->range_start - t->skipped));
        t->skipped += skip;
      }
      if (len > skip) {
        t->request->sink->write(data + skip, len - skip);
        t->response->sink_bytes += len - skip;
      }
    } else {
      if (t->response->body.size() + len > t->request->max_body) {
        util::fail(util::ErrorKind::IO, "response body from " + t->request->url + " exceeds " +
                                            std::to_string(t->request->max_body) + " bytes");
      }
      t->response->body.append(data, len);
    }
    return len;
  } catch (...) {
    t->error = std::current_exception();
    return CURL_WRITEFUNC_ERROR;
  }
}

std::size_t on_read(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  try {
    return t->request->body->read(data, size * n);
  } catch (...) {
    t->error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  const std::string key = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == key) {
      return v;
    }
  }
  return {};
}

std::vector<std::string> HttpResponse::headers_named(std::string_view name) const {
  const std::string key = lower(name);
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (k == key) {
      out.push_back(v);
    }
  }
  return out;
}

struct HttpClient::Impl {
  std::unique_ptr<CURL, CurlDeleter> curl;
};

HttpClient::HttpClient(HttpOptions options)
    : m_options(std::move(options)), m_impl(std::make_unique<Impl>()) {
  global_init();
  m_impl->curl.reset(curl_easy_init());
  if (!m_impl->curl) {
    util::fail(util::ErrorKind::Internal, "curl_easy_init failed");
  }
}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

HttpResponse HttpClient::perform(const HttpRequest& request) {
  CURL* c = m_impl->curl.get();
  curl_easy_reset(c);
  HttpResponse response;
  Transfer t{c, &request, &response, nullptr, 0};

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& h) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next == nullptr) {
      util::fail(util::ErrorKind::Internal, "curl_slist_append failed");
    }
    (void)headers.release();
    headers.reset(next);
  };
  for (const auto& h : request.headers) {
    add_header(h);
  }
  add_header("Expect:");  // no 100-continue round trip

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_USERAGENT, m_options.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, m_options.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, m_options.low_speed_time_s);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, m_options.insecure_tls ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, m_options.insecure_tls ? 0L : 2L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);

  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.body != nullptr) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    if (request.body_size) {
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                       static_cast<curl_off_t>(*request.body_size));
    }
  } else if (request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  const CURLcode rc = curl_easy_perform(c);
  if (t.error) {
    std::rethrow_exception(t.error);
  }
  if (rc != CURLE_OK) {
    util::fail(util::ErrorKind::Timeout, request.method + " " + request.url + ": " +
                                             curl_easy_strerror(rc) +
                                             " (check the address, the network and TLS settings)");
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* effective = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective);
  response.effective_url = effective != nullptr ? effective : request.url;
  return response;
}

std::string url_encode(std::string_view text) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(k_hex[c >> 4]);
      out.push_back(k_hex[c & 15]);
    }
  }
  return out;
}

std::string resolve_url(const std::string& base, const std::string& location) {
  if (location.starts_with("http://") || location.starts_with("https://")) {
    return location;
  }
  const auto scheme_end = base.find("://");
  const auto host_end =
      scheme_end == std::string::npos ? std::string::npos : base.find('/', scheme_end + 3);
  const std::string origin = host_end == std::string::npos ? base : base.substr(0, host_end);
  if (location.starts_with("/")) {
    return origin + location;
  }
  const auto last = base.rfind('/');
  return (last == std::string::npos || last < scheme_end + 3 ? origin + "/" : base.substr(0, last + 1)) +
         location;
}

}  // namespace strata::registry::client
