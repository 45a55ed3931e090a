// Several processes and threads sharing one store: every operation succeeds and the store
// is consistent afterwards (every row's file exists and hashes right, no temp files left,
// every cache entry and tag points at a present blob).
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "cache/store.hpp"
#include "oci/image.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata;
using cache::Store;
namespace fs = std::filesystem;

namespace {

constexpr int k_ops = 200;

// Durability is not what these tests are about, and fsync would make them disk-bound.
Store::Options fast() {
  Store::Options options;
  options.fsync = false;
  return options;
}

void expect(bool ok, const std::string& what) {
  if (!ok) {
    throw std::runtime_error("check failed: " + what);
  }
}

// One worker's loop: shared blobs (every worker writes the same ones), own blobs, streamed
// blobs, cache entries for both, tags moved between workers, and reads of all of it.
void workload(Store& store, int id, int ops) {
  for (int i = 0; i < ops; ++i) {
    const std::string shared = "shared blob " + std::to_string(i % 7);
    const std::string own = "blob of worker " + std::to_string(id) + " #" + std::to_string(i);
    const auto shared_digest = store.put_blob(shared, "application/octet-stream");
    expect(store.read_blob(shared_digest) == shared, "shared blob reads back");

    oci::Digest own_digest;
    if (i % 3 == 0) {
      auto writer = store.begin_blob("application/vnd.oci.image.layer.v1.tar+zstd");
      for (int c = 0; c < 4; ++c) {
        writer.write(own);
      }
      own_digest = writer.commit();
      expect(store.read_blob(own_digest).size() == 4 * own.size(), "streamed blob reads back");
    } else {
      own_digest = store.put_blob(own, "application/vnd.oci.image.layer.v1.tar+zstd");
    }

    const std::string shared_key = std::string(60, 'a') + std::to_string(1000 + i % 5);
    store.put_layer({shared_key, oci::Digest::of("diff " + shared), shared_digest, shared.size(),
                     "application/octet-stream", "shared step"});
    store.put_layer({std::to_string(id) + "-" + std::to_string(i), oci::Digest::of(own), own_digest,
                     own.size(), "application/vnd.oci.image.layer.v1.tar+zstd", "own step"});
    auto hit = store.find_layer(shared_key);
    expect(hit.has_value() && store.has_blob(hit->blob), "shared cache entry found");

    oci::Manifest manifest;
    manifest.media_type = std::string(oci::media::k_oci_manifest);
    manifest.config = {std::string(oci::media::k_oci_config),
                       shared_digest,
                       static_cast<std::int64_t>(shared.size()),
                       {},
                       {},
                       {},
                       {},
                       {}};
    manifest.layers.push_back({std::string(oci::media::k_oci_layer_zstd),
                               own_digest,
                               static_cast<std::int64_t>(store.blob_info(own_digest)->size),
                               {},
                               {},
                               {},
                               {},
                               {}});
    const auto manifest_digest =
        store.put_blob(oci::to_json(manifest), std::string(oci::media::k_oci_manifest));
    store.set_tag({"tag-" + std::to_string(i % 4), manifest_digest, "", 0});
    expect(store.find_tag("tag-" + std::to_string(i % 4)).has_value(), "tag found");
    if (i % 50 == 0) {
      (void)store.list_blobs();
      (void)store.list_tags();
    }
  }
}

void check_consistent(const fs::path& root) {
  Store store(root);
  const auto result = store.verify();
  CHECK(result.bad.empty());
  CHECK(result.registered.empty());
  CHECK(result.stray.empty());
  CHECK(result.checked == store.list_blobs().size());
  for (const auto& blob : store.list_blobs()) {
    CHECK(oci::Digest::of(store.read_blob(blob.digest)) == blob.digest);
  }
  for (const auto& tag : store.list_tags()) {
    CHECK(store.has_blob(tag.manifest));
  }
  std::size_t temps = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(root / "tmp")) {
    ++temps;
  }
  CHECK(temps == 0);
}

}  // namespace

TEST_CASE("processes share one store safely", "[cache][concurrency]") {
  util::TempDir dir("conc");
  const fs::path root = dir.path() / "s";
  constexpr int k_children = 4;
  std::vector<pid_t> children;
  for (int c = 0; c < k_children; ++c) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      try {
        Store store(root, fast());  // each process opens its own connection after fork
        workload(store, c + 1, k_ops);
      } catch (const std::exception& e) {
        std::cerr << "child " << c + 1 << ": " << e.what() << '\n';
        code = 1;
      }
      std::cerr.flush();
      ::_exit(code);
    }
    children.push_back(pid);
  }
  {
    Store store(root, fast());
    workload(store, 0, k_ops);
    // A GC during the builds must find everything within its grace period.
    const auto gc = store.gc({});
    CHECK(gc.removed_blobs == 0);
  }
  for (const pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  check_consistent(root);
  Store store(root);
  // 7 shared + (k_children + 1) * k_ops own blobs and as many manifests.
  CHECK(store.list_blobs().size() == 7 + 2 * (k_children + 1) * k_ops);
  CHECK(store.list_tags().size() == 4);
}

TEST_CASE("threads share one store safely", "[cache][concurrency]") {
  util::TempDir dir("conc");
  const fs::path root = dir.path() / "s";
  Store store(root, fast());
  Store second(root, fast());  // a second connection in the same process
  constexpr int k_threads = 6;
  std::vector<std::string> errors(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        workload(t % 2 == 0 ? store : second, 100 + t, k_ops / 2);
        if (t == 0) {
          (void)store.verify();
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const auto& e : errors) {
    CHECK(e.empty());
  }
  check_consistent(root);
  CHECK(store.list_blobs().size() == 7 + 2 * k_threads * (k_ops / 2));
}
