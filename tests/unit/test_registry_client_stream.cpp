// LayerFeed / FeedingSink: a reader streams a blob while another thread appends it to the
// partial file, sees end of stream only once the blob is stored, and gets the download's
// error instead when verification fails.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "cache/store.hpp"
#include "oci/digest.hpp"
#include "registry/client/stream_feed.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using namespace strata;
using registry::client::FeedingSink;
using registry::client::LayerFeed;

namespace {

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  }
  return s;
}

// Opens the partial file for appending and a second descriptor for the feed.
struct Partial {
  explicit Partial(const std::filesystem::path& path)
      : out(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644)),
        in(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    REQUIRE(out);
    REQUIRE(in);
  }
  util::Fd out;
  util::Fd in;
};

std::string read_all(util::Source& source) {
  std::string got;
  char buf[1000];
  for (;;) {
    const std::size_t n = source.read(buf, sizeof buf);
    if (n == 0) {
      return got;
    }
    got.append(buf, n);
  }
}

}  // namespace

TEST_CASE("a reader streams a blob while it is written, and ends only once it is stored") {
  util::TempDir dir("feed");
  cache::Store store(dir.path() / "store", {{}, false});
  Partial partial(dir.path() / "partial");
  const std::string data = pattern(300000);
  LayerFeed feed;
  feed.started(std::move(partial.in), 0);
  std::atomic<bool> stored{false};
  std::thread writer([&] {
    util::Hasher hasher;
    std::uint64_t written = 0;
    FeedingSink sink(partial.out.get(), "partial", hasher, written, data.size(), &feed);
    for (std::size_t pos = 0; pos < data.size(); pos += 7000) {
      sink.write(data.data() + pos, std::min<std::size_t>(7000, data.size() - pos));
      std::this_thread::yield();
    }
    CHECK(written == data.size());
    CHECK(hasher.finish_hex() == oci::Digest::of(data).hex());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stored = true;
    feed.stored();
  });
  auto source = feed.open(store, oci::Digest::of(data));
  const std::string got = read_all(*source);
  CHECK(stored.load());  // end of stream waited for the verification
  writer.join();
  CHECK(got == data);
  feed.wait_stored();
}

TEST_CASE("a failed verification reaches the reader instead of the end of stream") {
  util::TempDir dir("feed");
  cache::Store store(dir.path() / "store", {{}, false});
  Partial partial(dir.path() / "partial");
  const std::string data = pattern(50000);
  LayerFeed feed;
  feed.started(std::move(partial.in), 0);
  std::thread writer([&] {
    util::Hasher hasher;
    std::uint64_t written = 0;
    FeedingSink sink(partial.out.get(), "partial", hasher, written, 0, &feed);
    sink.write(data);
    feed.failed(std::make_exception_ptr(
        util::Error(util::ErrorKind::Corruption, "blob sha256:abc does not match its digest")));
  });
  auto source = feed.open(store, oci::Digest::of(data));
  try {
    (void)read_all(*source);
    FAIL("the reader reached the end of a blob that failed verification");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Corruption);
    CHECK(std::string(e.what()).find("sha256:abc") != std::string::npos);
  }
  writer.join();
  CHECK_THROWS_AS(feed.wait_stored(), util::Error);
}

TEST_CASE("a blob already stored is read from the store") {
  util::TempDir dir("feed");
  cache::Store store(dir.path() / "store", {{}, false});
  const std::string data = pattern(4000);
  const auto digest = store.put_blob(data, "application/octet-stream");
  LayerFeed feed;
  feed.stored();
  auto source = feed.open(store, digest);
  CHECK(read_all(*source) == data);
}

TEST_CASE("a resumed partial file is read from its start") {
  util::TempDir dir("feed");
  cache::Store store(dir.path() / "store", {{}, false});
  Partial partial(dir.path() / "partial");
  const std::string data = pattern(20000);
  util::write_all(partial.out.get(), data.data(), 12000, "partial");
  LayerFeed feed;
  feed.started(std::move(partial.in), 12000);
  std::thread writer([&] {
    util::Hasher hasher;
    std::uint64_t written = 12000;
    FeedingSink sink(partial.out.get(), "partial", hasher, written, data.size(), &feed);
    sink.write(data.data() + 12000, 8000);
    feed.stored();
  });
  auto source = feed.open(store, oci::Digest::of(data));
  CHECK(read_all(*source) == data);
  writer.join();
}

TEST_CASE("cancel stops the download at its next write; excess bytes are Corruption") {
  util::TempDir dir("feed");
  Partial partial(dir.path() / "partial");
  util::Hasher hasher;
  std::uint64_t written = 0;
  LayerFeed feed;
  FeedingSink sink(partial.out.get(), "partial", hasher, written, 10, &feed);
  sink.write("12345");
  feed.cancel();
  CHECK(feed.cancelled());
  try {
    sink.write("6");
    FAIL("write after cancel succeeded");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Conflict);
  }
  LayerFeed other;
  written = 0;
  FeedingSink limited(partial.out.get(), "partial", hasher, written, 4, &other);
  try {
    limited.write("12345");
    FAIL("a write beyond the manifest size succeeded");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Corruption);
  }
  CHECK(written == 0);
}
