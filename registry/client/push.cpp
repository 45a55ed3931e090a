#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "oci/media_types.hpp"
#include "registry/client/transfer.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace strata::registry::client {

std::unique_ptr<util::Source> StoreBlobs::open(const oci::Digest& digest) {
  return m_store.open_blob(digest);
}

std::string StoreBlobs::read(const oci::Digest& digest) { return m_store.read_blob(digest); }

std::unique_ptr<util::Source> LayoutBlobs::open(const oci::Digest& digest) {
  if (!m_layout.has_blob(digest)) {
    util::fail(util::ErrorKind::NotFound,
               "blob " + digest.str() + " is missing from the layout " + m_layout.dir().string());
  }
  return std::make_unique<util::FileSource>(m_layout.blob_path(digest));
}

std::string LayoutBlobs::read(const oci::Digest& digest) { return m_layout.read_blob(digest); }

void parallel_for(std::size_t count, std::size_t jobs,
                  const std::function<void(std::size_t)>& fn) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (;;) {
      const std::size_t i = next++;
      if (i >= count || failed) {
        return;
      }
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) {
          error = std::current_exception();
        }
        failed = true;
        return;
      }
    }
  };
  const std::size_t n = std::max<std::size_t>(1, std::min(jobs, count));
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < n; ++t) {
    threads.emplace_back(worker);
  }
  worker();
  for (auto& t : threads) {
    t.join();
  }
  if (error) {
    std::rethrow_exception(error);
  }
}

namespace {

struct PushState {
  RegistryClient& client;
  const std::string& repo;
  BlobSource& blobs;
  const PushOptions& options;
  PushResult result;
  std::mutex mutex;
  std::set<oci::Digest> done;
};

void push_blobs(PushState& st, const std::vector<oci::Descriptor>& descriptors) {
  std::vector<oci::Descriptor> todo;
  {
    std::lock_guard lock(st.mutex);
    for (const auto& d : descriptors) {
      if (st.done.insert(d.digest).second) {
        todo.push_back(d);
      }
    }
  }
  parallel_for(todo.size(), st.options.jobs, [&](std::size_t i) {
    const oci::Descriptor& d = todo[i];
    const auto size = static_cast<std::uint64_t>(d.size);
    if (st.client.blob_size(st.repo, d.digest)) {
      std::lock_guard lock(st.mutex);
      ++st.result.skipped;
      return;
    }
    for (const auto& from : st.options.mount_from) {
      if (from != st.repo && st.client.mount_blob(st.repo, d.digest, from)) {
        std::lock_guard lock(st.mutex);
        ++st.result.mounted;
        if (st.options.progress) {
          st.options.progress("mounted " + d.digest.str() + " from " + from);
        }
        return;
      }
    }
    st.client.upload_blob(st.repo, d.digest, size, [&] { return st.blobs.open(d.digest); });
    std::lock_guard lock(st.mutex);
    ++st.result.uploaded;
    if (st.options.progress) {
      st.options.progress("pushed " + d.digest.str() + " (" + util::format_size(size) + ")");
    }
  });
}

void push_manifest_blobs(PushState& st, const std::string& bytes, const std::string& what) {
  const oci::Manifest m = oci::parse_manifest(bytes, what);
  std::vector<oci::Descriptor> all{m.config};
  all.insert(all.end(), m.layers.begin(), m.layers.end());
  push_blobs(st, all);
}

}  // namespace

PushResult push_image(RegistryClient& client, const std::string& repo, const std::string& tag,
                      const std::string& manifest_bytes, const std::string& media_type,
                      BlobSource& blobs, const PushOptions& options) {
  client.add_scope(repo, "pull,push");
  for (const auto& from : options.mount_from) {
    if (from != repo) {
      client.add_scope(from, "pull");
    }
  }
  PushState st{client, repo, blobs, options, {}, {}, {}};
  const oci::Digest digest = oci::Digest::of(manifest_bytes);
  if (oci::media::is_index(media_type)) {
    const oci::Index index = oci::parse_index(manifest_bytes, digest.str());
    for (const auto& child : index.manifests) {
      const std::string child_bytes = blobs.read(child.digest);
      if (oci::media::is_manifest(child.media_type)) {
        push_manifest_blobs(st, child_bytes, child.digest.str());
      } else {
        util::fail(util::ErrorKind::Unsupported,
                   "index " + digest.str() + " lists " + child.digest.str() + " of type " +
                       child.media_type + "; strata pushes indexes of image manifests only");
      }
      client.put_manifest(repo, child.digest.str(), child_bytes, child.media_type);
    }
  } else {
    push_manifest_blobs(st, manifest_bytes, digest.str());
  }
  st.result.digest =
      client.put_manifest(repo, tag.empty() ? digest.str() : tag, manifest_bytes, media_type);
  st.result.media_type = media_type;
  return st.result;
}

}  // namespace strata::registry::client
