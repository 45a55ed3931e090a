// Decompressing .debs ahead of the installer: DebReader::preload_data and DebPrefetcher give
// exactly the entries and contents of a plain streaming read, in list order, whatever the
// memory budget and worker count, and report a broken package at its turn.
#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "builder/debian/deb_file.hpp"
#include "builder/debian/deb_prefetch.hpp"
#include "deb_fixture.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata::builder::debian;
using namespace deb_fixture;
using strata::util::Error;
using strata::util::ErrorKind;
using strata::util::TempDir;

namespace {

// A package with `n` files of `size` bytes of varied content (xz must work for it).
Pkg big_package(const std::string& name, int n, std::size_t size) {
  Pkg p;
  p.name = name;
  for (int i = 0; i < n; ++i) {
    std::string content;
    for (std::size_t k = 0; content.size() < size; ++k) {
      content += name + ":" + std::to_string(i) + ":" + std::to_string(k * 7919 % 10007) + "\n";
    }
    p.files["usr/share/" + name + "/file" + std::to_string(i)] = content;
  }
  return p;
}

// path -> content of every entry (content empty for non-files), in archive order.
std::vector<std::pair<std::string, std::string>> entries(DebReader& reader) {
  std::vector<std::pair<std::string, std::string>> out;
  reader.for_each_data_entry([&](archive* a, archive_entry* e) {
    std::string content;
    char buf[4096];
    for (;;) {
      const la_ssize_t n = archive_read_data(a, buf, sizeof buf);
      REQUIRE(n >= 0);
      if (n == 0) {
        break;
      }
      content.append(buf, static_cast<std::size_t>(n));
    }
    out.emplace_back(archive_entry_pathname(e), content);
  });
  return out;
}

std::string error_message(const std::function<void()>& fn, ErrorKind kind) {
  try {
    fn();
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == kind);
    return e.what();
  }
  FAIL("no error thrown");
  return {};
}

}  // namespace

TEST_CASE("a preloaded data.tar reads exactly as a streamed one, wholly or in part") {
  TempDir dir("prefetch");
  for (const std::string z : {"xz", "gzip", "zstd", "none"}) {
    INFO(z);
    const auto deb = build_deb(dir.path() / z, big_package("pkg", 40, 5000), z);
    DebReader plain(deb);
    const auto expected = entries(plain);
    REQUIRE(expected.size() > 40);
    for (const std::uint64_t budget : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{30000},
                                       std::uint64_t{64} << 20}) {
      INFO(budget);
      DebReader reader(deb);
      const std::uint64_t held = reader.preload_data(budget);
      if (budget >= (std::uint64_t{64} << 20)) {
        CHECK(held >= 40 * 5000);  // the whole tar
      }
      CHECK(entries(reader) == expected);
    }
  }
}

TEST_CASE("preload_data is allowed once and only before the data is read") {
  TempDir dir("prefetch");
  const auto deb = build_deb(dir.path(), big_package("pkg", 2, 100));
  DebReader reader(deb);
  reader.preload_data(1 << 20);
  error_message([&] { reader.preload_data(1 << 20); }, ErrorKind::Internal);
  entries(reader);
  DebReader read_first(deb);
  entries(read_first);
  error_message([&] { read_first.preload_data(1 << 20); }, ErrorKind::Internal);
}

TEST_CASE("a corrupt data.tar is reported when it is read, naming the .deb, not while preloading") {
  TempDir dir("prefetch");
  const auto deb = build_deb(dir.path(), big_package("pkg", 20, 4000), "xz");
  std::string bytes = strata::util::read_file(deb);
  // Damage the middle of the xz stream (data.tar is the last member).
  for (std::size_t i = bytes.size() - 2000; i < bytes.size() - 1500; ++i) {
    bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  }
  const auto bad = dir.path() / "bad.deb";
  write(bad, bytes);
  DebReader reader(bad);
  reader.preload_data(64 << 20);  // does not throw: the error waits for its place
  const std::string msg = error_message([&] { entries(reader); }, ErrorKind::InvalidInput);
  CHECK(msg.find("bad.deb") != std::string::npos);
  CHECK(msg.find("data.tar.xz") != std::string::npos);
}

TEST_CASE("the prefetcher hands out every package in order with its full content") {
  TempDir dir("prefetch");
  std::vector<std::filesystem::path> debs;
  std::vector<std::vector<std::pair<std::string, std::string>>> expected;
  for (int i = 0; i < 7; ++i) {
    debs.push_back(build_deb(dir.path() / std::to_string(i),
                             big_package("pkg" + std::to_string(i), 5 + i, 3000 * (i + 1))));
    DebReader r(debs.back());
    expected.push_back(entries(r));
  }
  for (const unsigned workers : {1U, 3U}) {
    // A budget smaller than one package: partial preloads, the rest decompressed on reading.
    for (const std::uint64_t budget : {std::uint64_t{10000}, std::uint64_t{256} << 20}) {
      INFO("workers " << workers << ", budget " << budget);
      DebPrefetchOptions options;
      options.workers = workers;
      options.memory_budget = budget;
      options.horizon = 2;  // the rest once the consumer asks or the horizon moves
      DebPrefetcher prefetch(debs, options);
      CHECK(prefetch.size() == debs.size());
      for (std::size_t i = 0; i < debs.size(); ++i) {
        if (i == 3) {
          prefetch.set_horizon(debs.size());
        }
        DebReader r = prefetch.next();
        CHECK(r.path() == debs[i]);
        CHECK(entries(r) == expected[i]);
      }
      error_message([&] { prefetch.next(); }, ErrorKind::Internal);
    }
  }
}

TEST_CASE("the prefetcher reports a broken package at its turn and goes on with the next") {
  TempDir dir("prefetch");
  const auto good1 = build_deb(dir.path() / "a", big_package("good1", 3, 1000));
  const auto good2 = build_deb(dir.path() / "b", big_package("good2", 3, 1000));
  const auto broken = dir.path() / "broken.deb";
  write(broken, "this is not an ar archive");
  DebPrefetcher prefetch({good1, broken, good2});
  DebReader first = prefetch.next();
  CHECK(first.control().control.get("Package") == "good1");
  const std::string msg = error_message([&] { prefetch.next(); }, ErrorKind::InvalidInput);
  CHECK(msg.find("broken.deb") != std::string::npos);
  DebReader third = prefetch.next();
  CHECK(third.control().control.get("Package") == "good2");
  CHECK_FALSE(entries(third).empty());
}

TEST_CASE("a prefetcher destroyed before its packages are taken stops cleanly") {
  TempDir dir("prefetch");
  std::vector<std::filesystem::path> debs;
  for (int i = 0; i < 4; ++i) {
    debs.push_back(build_deb(dir.path() / std::to_string(i), big_package("p" + std::to_string(i), 4, 2000)));
  }
  {
    DebPrefetcher prefetch(debs);
    DebReader r = prefetch.next();
    CHECK(r.control().control.get("Package") == "p0");
  }  // three packages never taken: the destructor joins the workers
  SUCCEED("destroyed without hanging");
}
