#include "registry/server/server.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <iostream>
#include <thread>

#include "registry/server/auth_gate.hpp"
#include "registry/server/context.hpp"
#include "registry/server/routes.hpp"
#include "registry/server/worker_pool.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::registry {

namespace {

/// The queued OpenSSL errors as text (and clears the queue).
std::string ssl_errors() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

/// An HTTPS server over the PEM files of `tls`. Throws NotFound/IO for an unreadable file
/// and InvalidInput for a malformed certificate or key, or a key that does not match.
std::unique_ptr<httplib::Server> make_tls_server(const TlsConfig& tls) {
  if (tls.key.empty()) {
    util::fail(util::ErrorKind::InvalidInput,
               "TLS certificate " + tls.cert.string() + " given without a key (--tls-key)");
  }
  (void)util::read_file(tls.cert);  // clear NotFound/permission errors naming the file
  (void)util::read_file(tls.key);
  std::string error;
  ERR_clear_error();
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, tls.cert.c_str()) != 1) {
      error = "cannot load the TLS certificate " + tls.cert.string() +
              " (expected PEM): " + ssl_errors();
      return false;
    }
    if (SSL_CTX_use_PrivateKey_file(&ctx, tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
      error = mismatch ? "the TLS private key " + tls.key.string() +
                             " does not match the certificate " + tls.cert.string() + ": " +
                             ssl_errors()
                       : "cannot load the TLS private key " + tls.key.string() +
                             " (expected an unencrypted PEM key): " + ssl_errors();
      return false;
    }
    if (SSL_CTX_check_private_key(&ctx) != 1) {
      error = "the TLS private key " + tls.key.string() + " does not match the certificate " +
              tls.cert.string() + ": " + ssl_errors();
      return false;
    }
    return true;
  });
  if (!server->is_valid()) {
    util::fail(util::ErrorKind::InvalidInput,
               error.empty() ? "cannot set up TLS: " + ssl_errors() : error);
  }
  return server;
}

std::unique_ptr<httplib::Server> make_http_server(const ServerOptions& options) {
  if (options.tls.enabled()) {
    return make_tls_server(options.tls);
  }
  return std::make_unique<httplib::Server>();
}

std::unique_ptr<AuthGate> make_auth(const ServerOptions& options) {
  if (!options.auth.enabled()) {
    return nullptr;
  }
  return std::make_unique<AuthGate>(options.auth, options.root, options.tls.enabled());
}

}  // namespace

struct Server::Impl {
  explicit Impl(ServerOptions options)
      : ctx(std::move(options)), auth(make_auth(ctx.options)),
        http_owner(make_http_server(ctx.options)), http(*http_owner) {}

  Context ctx;
  std::unique_ptr<AuthGate> auth;              // null: auth off
  std::unique_ptr<httplib::Server> http_owner;  // an SSLServer with TLS on
  httplib::Server& http;
  std::atomic<int> port{0};
  std::atomic<bool> in_run{false};
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;  // guarded by mutex

  void configure();
  void expiry_loop();
};

void Server::Impl::configure() {
  const std::size_t threads = std::max<std::size_t>(ctx.options.threads, 2);
  const std::size_t max_threads = std::max(threads, ctx.options.max_threads);
  http.new_task_queue = [threads, max_threads] { return new WorkerPool(threads, max_threads); };
  http.set_read_timeout(ctx.options.io_timeout.count());
  http.set_write_timeout(ctx.options.io_timeout.count());
  http.set_keep_alive_timeout(ctx.options.keep_alive_timeout.count());
  http.set_keep_alive_max_count(1000);
  http.set_default_headers({{"Docker-Distribution-API-Version", "registry/2.0"}});

  // httplib 0.11 applies a request's Range to every response body, error bodies included;
  // blobs.cpp handles Range itself, so the parsed ranges are dropped before routing. The
  // Request object is non-const inside httplib; only the callback signature is const.
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    const_cast<httplib::Request&>(req).ranges.clear();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib raises itself (malformed request line, bad Range syntax, ...) get a spec
  // JSON body too.
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const_cast<httplib::Request&>(req).ranges.clear();
    const ErrorCode code = res.status == 416 ? ErrorCode::SizeInvalid : ErrorCode::Unsupported;
    res.set_content(error_body(code, "request rejected by the HTTP layer (status " +
                                         std::to_string(res.status) + ")"),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  if (ctx.options.access_log) {
    http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::cerr << req.remote_addr << " " << req.method << " " << req.target << " " << res.status
                << '\n';
    });
  }

  Context* c = &ctx;
  AuthGate* a = auth.get();
  const auto plain = [c, a](const httplib::Request& req, httplib::Response& res) {
    handle_request(*c, a, req, res, nullptr);
  };
  const auto streamed = [c, a](const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader) {
    handle_request(*c, a, req, res, &reader);
  };
  // Every method with a body goes through a ContentReader handler, so httplib never
  // buffers a request body in memory.
  const std::string all = "/.*";
  http.Get(all, plain);
  http.Options(all, plain);
  http.Post(all, streamed);
  http.Put(all, streamed);
  http.Patch(all, streamed);
  http.Delete(all, streamed);
}

void Server::Impl::expiry_loop() {
  const auto expiry = ctx.options.upload_expiry;
  const auto interval = std::clamp<std::chrono::seconds>(expiry / 10, std::chrono::seconds(1),
                                                         std::chrono::seconds(300));
  std::unique_lock lock(mutex);
  while (!stopping) {
    lock.unlock();
    try {
      registry::expire_uploads(ctx);
    } catch (const std::exception& e) {
      std::cerr << "strata registry: expiring uploads failed: " << e.what() << '\n';
    }
    lock.lock();
    wake.wait_for(lock, interval, [this] { return stopping; });
  }
}

Server::Server(ServerOptions options) : m_impl(std::make_unique<Impl>(std::move(options))) {
  m_impl->configure();
}

Server::~Server() { stop(); }

int Server::bind() {
  auto& impl = *m_impl;
  const auto& opts = impl.ctx.options;
  int port = opts.port;
  if (port == 0) {
    port = impl.http.bind_to_any_port(opts.host);
    if (port < 0) {
      port = 0;
    }
  } else if (!impl.http.bind_to_port(opts.host, port)) {
    port = 0;
  }
  if (port == 0) {
    util::fail(util::ErrorKind::IO, "cannot listen on " + opts.host + ":" +
                                        std::to_string(opts.port) +
                                        " (address in use or not local?); choose another --addr");
  }
  impl.port = port;
  return port;
}

void Server::run() {
  auto& impl = *m_impl;
  if (impl.port == 0) {
    bind();
  }
  {
    std::lock_guard lock(impl.mutex);
    if (impl.stopping) {
      return;
    }
    impl.in_run = true;
  }
  // Once before serving, so that sessions a crash left half-finished are gone before any
  // client (or an fsck right after the restart) sees them.
  try {
    registry::expire_uploads(impl.ctx);
  } catch (const std::exception& e) {
    std::cerr << "strata registry: expiring uploads failed: " << e.what() << '\n';
  }
  std::thread expiry([&impl] { impl.expiry_loop(); });
  impl.http.listen_after_bind();
  {
    std::lock_guard lock(impl.mutex);
    impl.stopping = true;
  }
  impl.wake.notify_all();
  expiry.join();
  impl.in_run = false;
}

void Server::stop() {
  auto& impl = *m_impl;
  {
    std::lock_guard lock(impl.mutex);
    impl.stopping = true;
  }
  impl.wake.notify_all();
  // httplib ignores stop() until its accept loop runs: wait for that, or for run() to end.
  while (impl.in_run && !impl.http.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl.http.stop();
}

int Server::port() const noexcept { return m_impl->port; }

void Server::expire_uploads() { registry::expire_uploads(m_impl->ctx); }

std::chrono::seconds parse_duration(std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto res = std::from_chars(text.data(), end, value);
  const std::string_view unit(res.ptr, static_cast<std::size_t>(end - res.ptr));
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else if (unit == "d") {
    scale = 86400;
  }
  if (text.empty() || res.ec != std::errc{} || value < 0 || scale == 0 ||
      value > std::numeric_limits<std::int64_t>::max() / scale) {
    util::fail(util::ErrorKind::InvalidInput,
               "invalid duration \"" + std::string(text) +
                   "\": expected a number with an optional unit s, m, h or d (e.g. 24h)");
  }
  return std::chrono::seconds(value * scale);
}

}  // namespace strata::registry
