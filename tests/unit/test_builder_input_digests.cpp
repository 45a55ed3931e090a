// The input-digest cache: unchanged files are not re-hashed, changed ones always are, and
// files modified within the last seconds are never recorded.
#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <filesystem>

#include "builder/input_digests.hpp"
#include "cache/store.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace fs = std::filesystem;
using strata::builder::InputDigests;

namespace {

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

void age(const fs::path& p, std::time_t seconds) {
  const struct timespec times[2] = {{std::time(nullptr) - seconds, 0},
                                    {std::time(nullptr) - seconds, 0}};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

}  // namespace

TEST_CASE("input digests are recorded for stable files and reused", "[builder][digests]") {
  strata::util::TempDir tmp;
  const fs::path ctx = fs::canonical(tmp.path()) / "ctx";
  fs::create_directories(ctx);
  const fs::path file = ctx / "data.bin";
  strata::util::write_file_atomic(file, "hello");
  age(file, 3600);
  strata::cache::Store store(tmp.path() / "store");

  {
    InputDigests digests(store);
    digests.preload(ctx);
    CHECK(digests.digest(file, lstat_of(file)) == strata::util::hash_hex("hello"));
  }
  // The ctime of the file is "now" (utimensat changed it), so nothing may be recorded yet.
  CHECK(store.load_file_digests(ctx.string() + "/").empty());
}

TEST_CASE("a changed file is hashed again even with the same size", "[builder][digests]") {
  strata::util::TempDir tmp;
  const fs::path ctx = fs::canonical(tmp.path()) / "ctx";
  fs::create_directories(ctx);
  const fs::path file = ctx / "a.txt";
  strata::util::write_file_atomic(file, "aaaa");
  strata::cache::Store store(tmp.path() / "store");

  // Record a digest as if the file had been hashed long ago with this exact stat.
  const struct stat st = lstat_of(file);
  strata::cache::Store::FileDigest rec{file.string(),
                                       static_cast<std::uint64_t>(st.st_dev),
                                       static_cast<std::uint64_t>(st.st_ino),
                                       static_cast<std::uint64_t>(st.st_size),
                                       st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
                                       st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec,
                                       std::string(64, 'e')};
  store.put_file_digests({rec});
  {
    InputDigests digests(store);
    digests.preload(ctx);
    // Same stat: the recorded digest is used, the file is not read.
    CHECK(digests.digest(file, st) == std::string(64, 'e'));
  }
  // Rewrite with the same size: a new inode and times, so the content is hashed again.
  strata::util::write_file_atomic(file, "bbbb");
  InputDigests digests(store);
  digests.preload(ctx);
  CHECK(digests.digest(file, lstat_of(file)) == strata::util::hash_hex("bbbb"));
}

TEST_CASE("records of old files survive in the store", "[builder][digests]") {
  strata::util::TempDir tmp;
  const fs::path ctx = fs::canonical(tmp.path()) / "ctx";
  fs::create_directories(ctx / "sub");
  const fs::path file = ctx / "sub" / "x";
  strata::util::write_file_atomic(file, "xyz");
  strata::cache::Store store(tmp.path() / "store");
  struct stat st = lstat_of(file);
  // Pretend the file's times are old (as after a checkout long ago).
  st.st_mtim.tv_sec -= 3600;
  st.st_ctim.tv_sec -= 3600;
  {
    InputDigests digests(store);
    digests.preload(ctx);
    CHECK(digests.digest(file, st) == strata::util::hash_hex("xyz"));
  }
  const auto records = store.load_file_digests(ctx.string() + "/");
  REQUIRE(records.size() == 1);
  CHECK(records[0].path == file.string());
  CHECK(records[0].sha256 == strata::util::hash_hex("xyz"));
  CHECK(store.load_file_digests(ctx.string() + "-other/").empty());
}
