#include <charconv>
#include <chrono>
#include <functional>

#include "oci/reference.hpp"
#include "registry/server/context.hpp"
#include "util/error.hpp"

namespace strata::registry {

namespace {

// Bodies of rejected requests up to this size are read and dropped so that the connection
// stays usable; larger ones make the response ask the client to close it.
constexpr std::uint64_t k_max_discard = 64 * 1024 * 1024;

ServerOptions prepared(ServerOptions opts) {
  std::error_code ec;
  std::filesystem::create_directories(opts.root / "uploads", ec);
  if (ec) {
    util::fail(util::ErrorKind::IO, "cannot create registry root " + opts.root.string() + ": " +
                                        ec.message() + " (pass --root DIR to use another one)");
  }
  return opts;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

Context::Context(ServerOptions opts)
    : options(prepared(std::move(opts))),
      store(options.root),
      meta(options.root / "registry.db", options.clock) {}

std::int64_t Context::now() const {
  if (options.clock) {
    return options.clock();
  }
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::mutex& Context::upload_lock(std::string_view uuid) {
  return m_upload_locks[std::hash<std::string_view>{}(uuid) % m_upload_locks.size()];
}

std::optional<UploadHash> Context::take_upload_hash(const std::string& uuid) {
  std::lock_guard lock(m_hash_mutex);
  const auto it = m_hashes.find(uuid);
  if (it == m_hashes.end()) {
    return std::nullopt;
  }
  std::optional<UploadHash> out(std::move(it->second));
  m_hashes.erase(it);
  return out;
}

void Context::keep_upload_hash(const std::string& uuid, UploadHash hash) {
  std::lock_guard lock(m_hash_mutex);
  m_hashes.insert_or_assign(uuid, std::move(hash));
}

void Context::drop_upload_hash(const std::string& uuid) {
  std::lock_guard lock(m_hash_mutex);
  m_hashes.erase(uuid);
}

Query::Query(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) {
    return;
  }
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) {
      m_params.emplace(percent_decode(pair), std::string{});
    } else {
      m_params.emplace(percent_decode(pair.substr(0, eq)), percent_decode(pair.substr(eq + 1)));
    }
  }
}

std::optional<std::string> Query::get(const std::string& key) const {
  const auto it = m_params.find(key);
  if (it == m_params.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::vector<std::string> Query::all(const std::string& key) const {
  std::vector<std::string> out;
  const auto [first, last] = m_params.equal_range(key);
  for (auto it = first; it != last; ++it) {
    out.push_back(it->second);
  }
  return out;
}

bool Call::has_body() const {
  const std::string te = req.get_header_value("Transfer-Encoding");
  if (!te.empty()) {
    std::string lower;
    for (const char c : te) {
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (lower.find("chunked") != std::string::npos) {
      return true;
    }
  }
  const std::string len = req.get_header_value("Content-Length");
  return !len.empty() && len.find_first_not_of('0') != std::string::npos;
}

std::uint64_t Call::read_body(const std::function<void(const char*, std::size_t)>& sink,
                              ErrorCode code) {
  body_consumed = true;
  if (reader == nullptr || !has_body()) {
    return 0;
  }
  std::uint64_t count = 0;
  std::exception_ptr error;
  const int saved_status = res.status;
  const bool ok = (*reader)([&](const char* data, std::size_t size) {
    try {
      sink(data, size);
      count += size;
      return true;
    } catch (...) {
      error = std::current_exception();
      return false;
    }
  });
  res.status = saved_status;  // httplib sets 400 on a failed read; the handler decides
  if (error || !ok) {
    // The rest of the body is still on the socket: never reuse this connection.
    if (!res.has_header("Connection")) {
      res.set_header("Connection", "close");
    }
  }
  if (error) {
    std::rethrow_exception(error);
  }
  if (!ok) {
    throw ApiError(400, code,
                   "the request body ended after " + std::to_string(count) +
                       " bytes, before its announced length (connection lost?); retry");
  }
  return count;
}

void Call::discard_body() {
  if (body_consumed) {
    return;
  }
  body_consumed = true;
  if (reader == nullptr || !has_body()) {
    return;
  }
  bool drained = false;
  const std::string len = req.get_header_value("Content-Length");
  std::uint64_t announced = 0;
  const bool known = !len.empty() &&
                     std::from_chars(len.data(), len.data() + len.size(), announced).ec ==
                         std::errc{};
  if (!known || announced <= k_max_discard) {
    const int saved_status = res.status;
    std::uint64_t seen = 0;
    drained = (*reader)([&](const char*, std::size_t size) {
      seen += size;
      return seen <= k_max_discard;
    });
    res.status = saved_status;
  }
  if (!drained && !res.has_header("Connection")) {
    res.set_header("Connection", "close");
  }
}

std::string url_encode(std::string_view text) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(k_hex[u >> 4]);
      out.push_back(k_hex[u & 0xf]);
    }
  }
  return out;
}

oci::Digest parse_digest_param(std::string_view text, bool computable) {
  auto digest = oci::Digest::try_parse(text);
  if (!digest) {
    throw ApiError(400, ErrorCode::DigestInvalid,
                   "invalid digest \"" + std::string(text.substr(0, 200)) +
                       "\": expected sha256:<64 hex> or sha512:<128 hex>",
                   {{"digest", std::string(text.substr(0, 200))}});
  }
  if (computable && !digest->hash_algorithm()) {
    throw ApiError(400, ErrorCode::DigestInvalid,
                   "unsupported digest algorithm \"" + digest->algorithm() +
                       "\": this registry verifies sha256 and sha512",
                   {{"digest", digest->str()}});
  }
  return *digest;
}

void check_repository(std::string_view name) {
  if (name.size() > 255 || !oci::is_valid_repository(name)) {
    throw ApiError(400, ErrorCode::NameInvalid,
                   "invalid repository name \"" + std::string(name.substr(0, 300)) +
                       "\": use lower-case components [a-z0-9] separated by '/', '.', '_', "
                       "'__' or '-', at most 255 characters",
                   {{"name", std::string(name.substr(0, 300))}});
  }
}

std::optional<std::size_t> parse_page_size(const Query& query) {
  const auto n = query.get("n");
  if (!n) {
    return std::nullopt;
  }
  std::size_t value = 0;
  const auto* end = n->data() + n->size();
  const auto res = std::from_chars(n->data(), end, value);
  if (n->empty() || res.ec != std::errc{} || res.ptr != end) {
    throw ApiError(400, ErrorCode::Unsupported,
                   "invalid page size n=\"" + n->substr(0, 50) +
                       "\": expected a non-negative integer");
  }
  return value;
}

void send_json(httplib::Response& res, int status, const std::string& body,
               const std::string& content_type) {
  res.status = status;
  res.set_content(body, content_type);
}

}  // namespace strata::registry
