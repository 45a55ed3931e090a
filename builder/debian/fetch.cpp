// The downloader: one libcurl multi handle drives up to `parallel` transfers from the
// calling thread. Each item is a Transfer that owns its target (a store BlobWriter, or a
// string for get()) across attempts. The loop starts waiting transfers whose backoff has
// passed, lets curl move bytes, and handles finished attempts:
//  - body bytes go straight into the target (hashed there); a body longer than promised,
//    a store error or a too large get() aborts the attempt as fatal;
//  - a response that is not a success status is not written to the target at all;
//  - a transient failure (connect error, timeout, cut connection, HTTP 5xx/408/429)
//    schedules another attempt after an exponential backoff with seeded jitter. When the
//    target already holds bytes, the next attempt asks for the rest with "Range: bytes=N-"
//    and appends: a 206 whose Content-Range starts at N continues, a 200 starts over (the
//    server ignored the range), anything else is retried from zero;
//  - a complete body is committed with the expected digest; on a mismatch nothing is
//    stored. A resumed download that fails the check is tried once more from zero (the
//    file may have changed between attempts) before the Corruption error is reported.
#include "builder/debian/fetch.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string_view>

#include "util/error.hpp"

namespace strata::builder::debian {

using util::ErrorKind;
using Clock = std::chrono::steady_clock;

namespace {

struct EasyDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const noexcept { curl_multi_cleanup(m); }
};

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      util::fail(ErrorKind::Internal, "libcurl failed to initialise");
    }
  });
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto a = static_cast<unsigned char>(text[i]);
    const auto b = static_cast<unsigned char>(prefix[i]);
    if (std::tolower(a) != std::tolower(b)) {
      return false;
    }
  }
  return true;
}

// Failures of libcurl itself that another attempt may not see.
bool transient(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP3:
      return true;
    default:
      return false;
  }
}

}  // namespace

// One item being downloaded, across all of its attempts.
struct Transfer {
  // What to fetch.
  std::string url;
  std::string name;  // for messages: "<name>" or the URL
  std::optional<oci::Digest> digest;
  std::optional<std::uint64_t> size;
  std::string media_type;
  std::size_t index = 0;  // result slot
  bool to_memory = false;
  std::uint64_t max_size = 0;
  bool is_http = true;

  // The target, kept across attempts.
  std::optional<cache::BlobWriter> writer;
  std::string memory;

  // The current attempt.
  std::unique_ptr<CURL, EasyDeleter> easy;
  CURLM* multi = nullptr;
  bool in_multi = false;
  bool body_started = false;
  bool discard_body = false;
  bool range_requested = false;
  bool restart = false;
  std::optional<std::uint64_t> range_start;
  std::exception_ptr failure;
  char errbuf[CURL_ERROR_SIZE] = {};

  // Across attempts.
  int attempts = 0;
  bool resumed_ever = false;
  bool full_retry_done = false;
  Clock::time_point not_before{};
  std::exception_ptr error;
  bool downloaded = false;
  std::uint64_t final_size = 0;
  Fetcher::Impl* owner = nullptr;

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() { detach(); }

  [[nodiscard]] std::uint64_t held() const noexcept {
    return to_memory ? memory.size() : (writer ? writer->size() : 0);
  }
  [[nodiscard]] std::string label() const { return name.empty() ? url : name; }
  void detach() noexcept {
    if (in_multi) {
      curl_multi_remove_handle(multi, easy.get());
      in_multi = false;
    }
    easy.reset();
  }
};

struct Fetcher::Impl {
  cache::Store& store;
  FetchOptions options;
  FetchStats stats;
  std::mt19937_64 rng;
  std::unique_ptr<CURLM, MultiDeleter> multi;
  FetchProgress progress;
  Clock::time_point last_report{};

  Impl(cache::Store& s, FetchOptions o) : store(s), options(std::move(o)) {
    global_init();
    options.parallel = std::max<std::size_t>(options.parallel, 1);
    options.max_attempts = std::max(options.max_attempts, 1);
    rng.seed(options.jitter_seed ? *options.jitter_seed : std::random_device{}());
    multi.reset(curl_multi_init());
    if (!multi) {
      util::fail(ErrorKind::Internal, "libcurl cannot create a multi handle");
    }
  }

  void report(const std::string& url, bool force) {
    if (!options.progress) {
      return;
    }
    const auto now = Clock::now();
    if (!force && now - last_report < std::chrono::milliseconds(200)) {
      return;
    }
    last_report = now;
    progress.url = url;
    options.progress(progress);
  }

  void reset_target(Transfer& t) {
    t.memory.clear();
    if (!t.to_memory) {
      t.writer.reset();
      t.writer.emplace(store.begin_blob(t.media_type, *t.digest->hash_algorithm()));
    }
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
      t.range_start.reset();  // a new response (after a redirect or 100 Continue)
    } else if (starts_with_nocase(line, "content-range:")) {
      std::string_view v = line.substr(14);
      while (!v.empty() && v.front() == ' ') {
        v.remove_prefix(1);
      }
      if (starts_with_nocase(v, "bytes ")) {
        v.remove_prefix(6);
        std::uint64_t start = 0;
        bool any = false;
        while (!v.empty() && v.front() >= '0' && v.front() <= '9') {
          start = start * 10 + static_cast<std::uint64_t>(v.front() - '0');
          v.remove_prefix(1);
          any = true;
        }
        if (any) {
          t.range_start = start;
        }
      }
    }
    return size * count;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const std::size_t len = size * count;
    try {
      Impl& self = *t.owner;
      if (!t.body_started) {
        t.body_started = true;
        long code = 0;
        curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &code);
        if (t.is_http && code == 206) {
          if (!t.range_requested || t.range_start != t.held()) {
            t.restart = true;
            return 0;
          }
        } else if (!t.is_http || code == 200) {
          if (t.range_requested && t.is_http) {
            self.reset_target(t);  // the server ignored the range: start over
          }
        } else {
          t.discard_body = true;
        }
      }
      if (t.discard_body) {
        return len;
      }
      self.stats.bytes += len;
      self.progress.bytes += len;
      const std::uint64_t after = t.held() + len;
      if (t.to_memory) {
        if (after > t.max_size) {
          util::fail(ErrorKind::InvalidInput, t.url + ": the file is larger than " +
                                                  std::to_string(t.max_size) +
                                                  " bytes; is this URL the right one?");
        }
        t.memory.append(data, len);
      } else {
        if (t.size && after > *t.size) {
          util::fail(ErrorKind::Corruption,
                     t.url + ": " + t.label() + " is larger than the " + std::to_string(*t.size) +
                         " bytes its index promises (expected " + t.digest->str() +
                         "); nothing was stored. The mirror may be out of sync or tampered "
                         "with: retry later or use another mirror");
        }
        t.writer->write(data, len);
      }
      return len;
    } catch (...) {
      t.failure = std::current_exception();
      return 0;
    }
  }

  void start(Transfer& t) {
    ++t.attempts;
    ++stats.requests;
    if (t.attempts > 1) {
      ++stats.retries;
    }
    if (!t.to_memory && !t.writer) {
      reset_target(t);
    }
    t.body_started = false;
    t.discard_body = false;
    t.restart = false;
    t.range_start.reset();
    t.failure = nullptr;
    t.errbuf[0] = '\0';
    t.range_requested = t.held() > 0;
    t.easy.reset(curl_easy_init());
    if (!t.easy) {
      util::fail(ErrorKind::Internal, "libcurl cannot create a handle for " + t.url);
    }
    CURL* e = t.easy.get();
    const std::string range = std::to_string(t.held()) + "-";
    const bool ok =
        curl_easy_setopt(e, CURLOPT_URL, t.url.c_str()) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PRIVATE, static_cast<void*>(&t)) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_body) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEDATA, static_cast<void*>(&t)) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::on_header) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HEADERDATA, static_cast<void*>(&t)) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,file") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT,
                         static_cast<long>(options.connect_timeout.count())) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(options.low_speed_bytes)) ==
            CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                         static_cast<long>(options.low_speed_time.count())) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str()) == CURLE_OK &&
        (!t.range_requested || curl_easy_setopt(e, CURLOPT_RANGE, range.c_str()) == CURLE_OK);
    if (!ok) {
      util::fail(ErrorKind::Unsupported,
                 t.url + ": libcurl refused an option (is the URL scheme http, https or file?)");
    }
    if (t.range_requested) {
      ++stats.resumed;
      t.resumed_ever = true;
    }
    if (curl_multi_add_handle(multi.get(), e) != CURLM_OK) {
      util::fail(ErrorKind::Internal, "libcurl cannot start the transfer of " + t.url);
    }
    t.multi = multi.get();
    t.in_multi = true;
  }

  // Schedules another attempt, or gives up when none is left.
  bool retry(Transfer& t, const std::string& reason) {
    if (t.attempts >= options.max_attempts) {
      util::fail(ErrorKind::Timeout, t.url + ": giving up after " + std::to_string(t.attempts) +
                                         " attempts; last error: " + reason +
                                         ". Check the network and the mirror, or try again later");
    }
    const double base = static_cast<double>(options.backoff_initial.count()) *
                        std::pow(2.0, static_cast<double>(t.attempts - 1));
    const double capped = std::min(base, static_cast<double>(options.backoff_max.count()));
    const double jittered = capped * std::uniform_real_distribution<double>(0.5, 1.0)(rng);
    t.not_before = Clock::now() + std::chrono::milliseconds(static_cast<long long>(jittered));
    return true;
  }

  // Handles the end of an attempt: true when another attempt is scheduled, false when the
  // item is complete; throws when it failed for good.
  bool finish(Transfer& t, CURLcode rc) {
    long code = 0;
    curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &code);
    std::string curl_error = t.errbuf[0] != '\0' ? t.errbuf : curl_easy_strerror(rc);
    t.detach();
    if (t.failure) {
      std::rethrow_exception(t.failure);
    }
    if (t.restart) {
      reset_target(t);
      return retry(t, "the server answered a Range request with another range");
    }
    if (rc == CURLE_OK && t.is_http && (code < 200 || code >= 300)) {
      const std::string status = "HTTP " + std::to_string(code);
      if (code == 404 || code == 410) {
        util::fail(ErrorKind::NotFound, t.url + ": not found (" + status +
                                            "); check the mirror URL, suite and component");
      }
      if (code == 401 || code == 403) {
        util::fail(ErrorKind::Unauthorized,
                   t.url + ": access refused (" + status + "); check the mirror's access rules");
      }
      if (code == 416) {
        reset_target(t);
        return retry(t, status + " for a resumed download");
      }
      if (code == 408 || code == 429 || code >= 500) {
        return retry(t, status);
      }
      util::fail(ErrorKind::IO, t.url + ": unexpected " + status);
    }
    if (rc == CURLE_FILE_COULDNT_READ_FILE) {
      util::fail(ErrorKind::NotFound, t.url + ": no such file (" + curl_error + ")");
    }
    if (rc != CURLE_OK) {
      if (transient(rc)) {
        return retry(t, curl_error);
      }
      util::fail(ErrorKind::IO, t.url + ": download failed: " + curl_error);
    }
    return !complete(t);
  }

  // Publishes a complete body; false when a fresh attempt was scheduled instead.
  bool complete(Transfer& t) {
    t.final_size = t.held();
    if (t.to_memory) {
      return true;
    }
    if (t.size && t.held() != *t.size) {
      if (t.resumed_ever && !t.full_retry_done) {
        t.full_retry_done = true;
        reset_target(t);
        return !retry(t, "size mismatch after a resumed download");
      }
      util::fail(ErrorKind::Corruption,
                 t.url + ": " + t.label() + " has " + std::to_string(t.held()) +
                     " bytes, its index promises " + std::to_string(*t.size) + " (expected " +
                     t.digest->str() + "); nothing was stored. The mirror may be out of sync: " +
                     "retry later or use another mirror");
    }
    try {
      cache::BlobWriter writer = std::move(*t.writer);
      t.writer.reset();
      writer.commit(*t.digest);
    } catch (const util::Error& e) {
      if (e.kind() != ErrorKind::Corruption) {
        throw;
      }
      if (t.resumed_ever && !t.full_retry_done) {
        t.full_retry_done = true;
        reset_target(t);
        return !retry(t, e.what());
      }
      util::fail(ErrorKind::Corruption,
                 t.url + ": " + t.label() + ": " + e.what() +
                     "; nothing was stored. The mirror may be out of sync or serving tampered "
                     "files: retry later or use another mirror");
    }
    t.downloaded = true;
    ++stats.downloaded;
    return true;
  }

  void run(const std::vector<Transfer*>& transfers) {
    std::deque<Transfer*> waiting(transfers.begin(), transfers.end());
    std::size_t active = 0;
    auto fail_transfer = [&](Transfer& t) {
      t.error = std::current_exception();
      t.detach();
      t.writer.reset();
      ++progress.completed;
      report(t.url, true);
    };
    while (!waiting.empty() || active > 0) {
      const auto now = Clock::now();
      for (auto it = waiting.begin(); it != waiting.end() && active < options.parallel;) {
        Transfer& t = **it;
        if (t.not_before > now) {
          ++it;
          continue;
        }
        it = waiting.erase(it);
        try {
          start(t);
          ++active;
        } catch (...) {
          fail_transfer(t);
        }
      }
      int running = 0;
      if (curl_multi_perform(multi.get(), &running) != CURLM_OK) {
        util::fail(ErrorKind::Internal, "libcurl multi transfer failed");
      }
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
        if (msg->msg != CURLMSG_DONE) {
          continue;
        }
        CURL* easy = msg->easy_handle;
        const CURLcode rc = msg->data.result;
        void* user = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &user);
        Transfer& t = *static_cast<Transfer*>(user);
        --active;
        try {
          if (finish(t, rc)) {
            waiting.push_back(&t);
          } else {
            ++progress.completed;
            report(t.url, true);
          }
        } catch (...) {
          fail_transfer(t);
        }
      }
      report("", false);
      if (waiting.empty() && active == 0) {
        break;
      }
      int timeout_ms = 200;
      if (!waiting.empty() && active < options.parallel) {
        auto earliest = waiting.front()->not_before;
        for (const Transfer* t : waiting) {
          earliest = std::min(earliest, t->not_before);
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(earliest - Clock::now());
        timeout_ms = static_cast<int>(std::clamp<long long>(wait.count(), 0, timeout_ms));
      }
      curl_multi_poll(multi.get(), nullptr, 0, timeout_ms, nullptr);
    }
  }
};

Fetcher::Fetcher(cache::Store& store, FetchOptions options)
    : m_impl(std::make_unique<Impl>(store, std::move(options))) {}
Fetcher::~Fetcher() = default;

const FetchStats& Fetcher::stats() const noexcept {
  return m_impl->stats;
}

std::vector<FetchResult> Fetcher::fetch_each(const std::vector<FetchItem>& items) {
  Impl& impl = *m_impl;
  std::vector<FetchResult> results(items.size());
  std::map<oci::Digest, std::size_t> first;
  std::vector<std::pair<std::size_t, std::size_t>> duplicates;  // (item, first item)
  std::vector<std::unique_ptr<Transfer>> owned;
  impl.progress = FetchProgress{};
  impl.progress.total = items.size();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const FetchItem& item = items[i];
    try {
      if (!item.digest.hash_algorithm()) {
        util::fail(ErrorKind::InvalidInput,
                   item.url + ": cannot verify a download against '" + item.digest.str() +
                       "': only sha256 and sha512 digests are supported");
      }
      if (auto [it, inserted] = first.emplace(item.digest, i); !inserted) {
        duplicates.emplace_back(i, it->second);
        continue;
      }
      if (impl.store.has_blob(item.digest)) {
        impl.store.touch_blob(item.digest);
        const auto info = impl.store.blob_info(item.digest);
        results[i].digest = item.digest;
        results[i].size = info ? info->size : item.size.value_or(0);
        ++impl.stats.reused;
        ++impl.progress.completed;
        continue;
      }
    } catch (...) {
      results[i].error = std::current_exception();
      ++impl.progress.completed;
      continue;
    }
    auto t = std::make_unique<Transfer>();
    t->url = item.url;
    t->name = item.name;
    t->digest = item.digest;
    t->size = item.size;
    t->media_type = item.media_type;
    t->index = i;
    t->is_http = !starts_with_nocase(item.url, "file:");
    t->owner = &impl;
    impl.progress.expected_bytes += item.size.value_or(0);
    owned.push_back(std::move(t));
  }
  std::vector<Transfer*> transfers;
  for (const auto& t : owned) {
    transfers.push_back(t.get());
  }
  impl.report("", true);
  impl.run(transfers);
  for (const auto& t : owned) {
    FetchResult& r = results[t->index];
    r.digest = *t->digest;
    r.size = t->final_size;
    r.downloaded = t->downloaded;
    r.attempts = t->attempts;
    r.error = t->error;
  }
  for (const auto& [item, orig] : duplicates) {
    results[item] = results[orig];
    results[item].downloaded = false;
  }
  return results;
}

std::vector<FetchResult> Fetcher::fetch(const std::vector<FetchItem>& items) {
  std::vector<FetchResult> results = fetch_each(items);
  for (const FetchResult& r : results) {
    if (r.error) {
      std::rethrow_exception(r.error);
    }
  }
  return results;
}

std::string Fetcher::get(const std::string& url, std::uint64_t max_size) {
  Impl& impl = *m_impl;
  Transfer t;
  t.url = url;
  t.to_memory = true;
  t.max_size = max_size;
  t.is_http = !starts_with_nocase(url, "file:");
  t.owner = &impl;
  impl.progress = FetchProgress{};
  impl.progress.total = 1;
  impl.run({&t});
  if (t.error) {
    std::rethrow_exception(t.error);
  }
  return std::move(t.memory);
}

}  // namespace strata::builder::debian
