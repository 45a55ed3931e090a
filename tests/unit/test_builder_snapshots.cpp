// Layer snapshots: layers unpacked once into the store as overlay lower dirs, verified
// against their diff_id, created atomically, and stacked by the sandbox with OCI whiteout
// semantics.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "builder/snapshots.hpp"
#include "cache/store.hpp"
#include "oci/layer_writer.hpp"
#include "sandbox_fixture.hpp"
#include "util/fd.hpp"

using namespace strata;
using oci::LayerEntry;
namespace fs = std::filesystem;

namespace {

struct StoredLayer {
  oci::Digest diff_id;
  oci::Digest blob;
  std::string media_type;
};

StoredLayer store_layer(cache::Store& store, std::vector<LayerEntry> entries,
                        oci::Compression compression) {
  oci::LayerOptions options;
  options.compression = compression;
  options.threads = 1;
  options.source_date_epoch = 1'700'000'000;
  const std::string media_type = oci::layer_media_type(compression);
  cache::BlobWriter writer = store.begin_blob(media_type);
  const oci::LayerResult r = oci::write_layer_from_entries(std::move(entries), options, writer);
  writer.commit(r.digest);
  return {r.diff_id, r.digest, media_type};
}

LayerEntry file(std::string path, std::string content, std::uint32_t mode = 0644) {
  LayerEntry e;
  e.path = std::move(path);
  e.content = std::move(content);
  e.mode = mode;
  return e;
}

LayerEntry entry(std::string path, LayerEntry::Type type, std::string link = {}) {
  LayerEntry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = type == LayerEntry::Type::Directory ? 0755
           : type == LayerEntry::Type::Symlink ? 0777
                                               : 0644;
  e.link_target = std::move(link);
  return e;
}

// Layer 1: busybox and its applets, /data with two files, /olddir with two files, a file
// owned by 1234:5678.
std::vector<LayerEntry> base_layer() {
  std::vector<LayerEntry> entries;
  LayerEntry busybox = file("bin/busybox", "", 0755);
  busybox.source = test::busybox_path();
  entries.push_back(busybox);
  for (const char* applet : {"sh", "ls", "stat", "cat", "echo"}) {
    entries.push_back(entry(std::string("bin/") + applet, LayerEntry::Type::Symlink, "busybox"));
  }
  entries.push_back(file("data/keep.txt", "keep\n"));
  entries.push_back(file("data/gone.txt", "gone\n"));
  entries.push_back(file("olddir/a", "a\n"));
  entries.push_back(file("olddir/b", "b\n"));
  LayerEntry owned = file("etc/owned", "mine\n");
  owned.uid = 1234;
  owned.gid = 5678;
  entries.push_back(owned);
  return entries;
}

// Layer 2: deletes data/gone.txt, replaces olddir by a directory holding only "new", adds
// data/added.txt.
std::vector<LayerEntry> change_layer() {
  return {entry("data/gone.txt", LayerEntry::Type::Whiteout),
          entry("olddir", LayerEntry::Type::OpaqueWhiteout), file("olddir/new", "new\n"),
          file("data/added.txt", "added\n")};
}

cache::Store::Options fast_store() {
  cache::Store::Options o;
  o.fsync = false;
  return o;
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.insert(it->path().filename().string());
  }
  return out;
}

}  // namespace

TEST_CASE("snapshots: stacked as lower dirs, they show whiteouts and opaque dirs in the sandbox") {
  util::TempDir tmp("snapshots-test");
  cache::Store store(tmp.path() / "store", fast_store());
  const StoredLayer l1 = store_layer(store, base_layer(), oci::Compression::Zstd);
  const StoredLayer l2 = store_layer(store, change_layer(), oci::Compression::Gzip);

  const fs::path snap1 = builder::ensure_snapshot(store, l1.diff_id, l1.blob, l1.media_type);
  const fs::path snap2 = builder::ensure_snapshot(store, l2.diff_id, l2.blob, l2.media_type);
  CHECK(snap1 == fs::absolute(store.root()) / "snapshots" / l1.diff_id.hex());
  CHECK(snap2 == builder::snapshot_path(store, l2.diff_id));
  CHECK(names_in(store.root() / "snapshots") ==
        std::set<std::string>{l1.diff_id.hex(), l2.diff_id.hex()});

  // On disk: layer 2 alone, with overlay markers instead of ".wh." files.
  struct stat st {};
  REQUIRE(::lstat((snap2 / "data/gone.txt").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(st.st_rdev == makedev(0, 0));
  CHECK_FALSE(fs::exists(snap2 / "data/keep.txt"));
  CHECK(names_in(snap2 / "olddir") == std::set<std::string>{"new"});
  const char* opaque = ::geteuid() == 0 ? "trusted.overlay.opaque" : "user.overlay.opaque";
  char value[4] = {};
  CHECK(::lgetxattr((snap2 / "olddir").c_str(), opaque, value, sizeof value) == 1);
  CHECK(value[0] == 'y');
  CHECK(util::read_file(snap1 / "data/gone.txt") == "gone\n");

  // In the sandbox: the union, with layer 2's deletions applied.
  builder::sandbox::RunOptions options;
  options.argv = {"/bin/busybox", "sh", "-c",
                  "ls /data; echo --; ls /olddir; echo --; cat /olddir/new; "
                  "stat -c %u:%g /etc/owned"};
  options.lower_dirs = {snap2, snap1};
  const auto result = builder::sandbox::run(options, tmp.path() / "upper");
  const std::string expected_owner = result.rootless ? "0:0" : "1234:5678";
  CHECK(result.output == "added.txt\nkeep.txt\n--\nnew\n--\nnew\n" + expected_owner + "\n");
  // The lower dirs are never written.
  CHECK(util::read_file(snap1 / "data/gone.txt") == "gone\n");
  CHECK(names_in(snap1 / "olddir") == std::set<std::string>{"a", "b"});
}

TEST_CASE("snapshots: an existing snapshot is reused without unpacking, and gc keeps it") {
  util::TempDir tmp("snapshots-test");
  cache::Store store(tmp.path() / "store", fast_store());
  const StoredLayer l1 = store_layer(store, base_layer(), oci::Compression::Zstd);
  const fs::path first = builder::ensure_snapshot(store, l1.diff_id, l1.blob, l1.media_type);
  struct stat before {};
  REQUIRE(::stat(first.c_str(), &before) == 0);
  // A marker a second unpack would not reproduce.
  util::write_file_atomic(first / "marker", "x");

  const fs::path second = builder::ensure_snapshot(store, l1.diff_id, l1.blob, l1.media_type);
  CHECK(second == first);
  CHECK(fs::exists(first / "marker"));
  struct stat after {};
  REQUIRE(::stat(second.c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);

  // `cache gc` removes the unreferenced blob but leaves the snapshot alone; the snapshot is
  // still served without its blob.
  cache::Store::GcOptions gc;
  gc.grace = 0;
  const auto removed = store.gc(gc);
  CHECK(removed.removed_blobs == 1);
  CHECK_FALSE(store.has_blob(l1.blob));
  CHECK(builder::ensure_snapshot(store, l1.diff_id, l1.blob, l1.media_type) == first);
  CHECK(fs::exists(first / "bin/busybox"));
}

TEST_CASE("snapshots: a blob that does not match its diff_id leaves nothing behind") {
  util::TempDir tmp("snapshots-test");
  cache::Store store(tmp.path() / "store", fast_store());
  const StoredLayer l1 = store_layer(store, base_layer(), oci::Compression::Zstd);
  const StoredLayer l2 = store_layer(store, change_layer(), oci::Compression::Gzip);

  SECTION("wrong diff_id") {
    const util::Error e = test::error_of(
        [&] { builder::ensure_snapshot(store, l2.diff_id, l1.blob, l1.media_type); });
    CHECK(e.kind() == util::ErrorKind::Corruption);
    CHECK_THAT(e.what(), Catch::Contains(l1.blob.str()));
    CHECK_THAT(e.what(), Catch::Contains(l2.diff_id.str()));
    CHECK_THAT(e.what(), Catch::Contains(l1.diff_id.str()));  // what it really is
  }
  SECTION("truncated blob") {
    const std::string whole = store.read_blob(l1.blob);
    const oci::Digest cut =
        store.put_blob(std::string_view(whole).substr(0, whole.size() / 2), l1.media_type);
    const util::Error e =
        test::error_of([&] { builder::ensure_snapshot(store, l1.diff_id, cut, l1.media_type); });
    CHECK(e.kind() == util::ErrorKind::Corruption);
    CHECK_THAT(e.what(), Catch::Contains(cut.str()));
  }
  SECTION("missing blob") {
    const oci::Digest absent = oci::Digest::of("not stored");
    const util::Error e =
        test::error_of([&] { builder::ensure_snapshot(store, l1.diff_id, absent, l1.media_type); });
    CHECK(e.kind() == util::ErrorKind::NotFound);
  }
  SECTION("unknown media type") {
    const util::Error e = test::error_of(
        [&] { builder::ensure_snapshot(store, l1.diff_id, l1.blob, "application/json"); });
    CHECK(e.kind() == util::ErrorKind::Unsupported);
  }
  // No snapshot, and no temp dir either.
  CHECK(names_in(store.root() / "snapshots").empty());
  // A later call with the right digests still works.
  const fs::path snap = builder::ensure_snapshot(store, l1.diff_id, l1.blob, l1.media_type);
  CHECK(util::read_file(snap / "data/keep.txt") == "keep\n");
}

TEST_CASE("snapshots: concurrent callers share one complete snapshot") {
  util::TempDir tmp("snapshots-test");
  cache::Store store(tmp.path() / "store", fast_store());
  const StoredLayer l1 = store_layer(store, base_layer(), oci::Compression::Zstd);
  // Two stores on one root stand for two processes.
  cache::Store other(tmp.path() / "store", fast_store());
  std::vector<fs::path> results(4);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        results[i] =
            builder::ensure_snapshot(i % 2 ? other : store, l1.diff_id, l1.blob, l1.media_type);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(errors[i].empty());
    CHECK(results[i] == results[0]);
  }
  CHECK(names_in(store.root() / "snapshots") == std::set<std::string>{l1.diff_id.hex()});
  CHECK(fs::file_size(results[0] / "bin/busybox") == fs::file_size(test::busybox_path()));
  CHECK(names_in(results[0] / "olddir") == std::set<std::string>{"a", "b"});
}

TEST_CASE("snapshots: stale temp dirs of crashed processes are swept, live ones kept") {
  util::TempDir tmp("snapshots-test");
  cache::Store store(tmp.path() / "store", fast_store());
  const fs::path dir = store.root() / "snapshots";
  fs::create_directories(dir / ".tmp-crashed/usr");
  fs::create_directories(dir / ".tmp-live");
  fs::create_directories(dir / ".tmp-recent");
  fs::create_directories(dir / "not-a-temp");
  const timespec old[2] = {{1'600'000'000, 0}, {1'600'000'000, 0}};
  for (const char* name : {".tmp-crashed", ".tmp-live", "not-a-temp"}) {
    REQUIRE(::utimensat(AT_FDCWD, (dir / name).c_str(), old, 0) == 0);
  }
  util::Fd live(::open((dir / ".tmp-live").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(live);
  REQUIRE(::flock(live.get(), LOCK_SH) == 0);
  CHECK(builder::sweep_snapshot_temps(store) == 1);
  CHECK(names_in(dir) == std::set<std::string>{".tmp-live", ".tmp-recent", "not-a-temp"});
}

TEST_CASE("snapshots: a store path overlayfs cannot take is refused") {
  util::TempDir tmp("snapshots-test");
  cache::Store store(tmp.path() / "st:ore", fast_store());
  const StoredLayer l1 = store_layer(store, base_layer(), oci::Compression::Zstd);
  const util::Error e =
      test::error_of([&] { builder::ensure_snapshot(store, l1.diff_id, l1.blob, l1.media_type); });
  CHECK(e.kind() == util::ErrorKind::InvalidInput);
  CHECK_THAT(e.what(), Catch::Contains("st:ore"));
  CHECK_FALSE(fs::exists(store.root() / "snapshots"));
}
