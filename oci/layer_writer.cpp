// Layers from in-memory entries, and the streaming pipeline shared with the directory walker
// (oci/layer_walk.cpp).
//
// write_layer_from_entries: every path is normalised (leading "/" and "./" and trailing "/"
// dropped; empty, "." and ".." components and names starting with ".wh." rejected), whiteouts
// are turned into their OCI names (Whiteout "d/x" -> "d/.wh.x", OpaqueWhiteout "d" ->
// "d/.wh..wh..opq"), missing parent directories are added, then everything is sorted with
// tar_path_less (bytewise, component by component; parents first). Hardlinks form groups
// around the File they name; whichever member of a group comes first in that order carries
// the content (with the File's metadata) and every later member is written as a hardlink to
// it, so an extractor always meets the content before any link to it.
#include "oci/layer_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <unordered_map>

#include "oci/layer_pipeline.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace strata::oci {

std::string layer_media_type(Compression compression) {
  switch (compression) {
    case Compression::Zstd:
      return std::string(media::k_oci_layer_zstd);
    case Compression::Gzip:
      return std::string(media::k_oci_layer_gzip);
    case Compression::None:
      return std::string(media::k_oci_layer_tar);
  }
  util::fail(util::ErrorKind::Internal, "unknown layer compression");
}

namespace detail {
namespace {

std::unique_ptr<CompressingSink> make_compressor(const LayerOptions& options, util::Sink& next) {
  switch (options.compression) {
    case Compression::Zstd:
      if (options.threads < 0) {
        util::fail(util::ErrorKind::InvalidInput,
                   "layer: --threads must be 0 (automatic) or more, not " +
                       std::to_string(options.threads));
      }
      return std::make_unique<ZstdSink>(
          next, options.level, options.threads == 0 ? default_zstd_workers() : options.threads);
    case Compression::Gzip:
      return std::make_unique<GzipSink>(next, options.level);
    case Compression::None:
      return nullptr;
  }
  util::fail(util::ErrorKind::Internal, "unknown layer compression");
}

}  // namespace

LayerPipeline::LayerPipeline(const LayerOptions& options, util::Sink& out)
    : m_compression(options.compression),
      m_blob_hash(&out),
      m_compressor(make_compressor(options, m_blob_hash)),
      m_async(m_compressor ? std::make_unique<AsyncSink>(*m_compressor) : nullptr),
      m_diff_hash(m_async ? static_cast<util::Sink*>(m_async.get()) : &out),
      m_tar(m_diff_hash) {}

LayerResult LayerPipeline::finish() {
  m_tar.finish();
  LayerResult result;
  result.diff_id = Digest::from_hex(util::HashAlgorithm::Sha256, m_diff_hash.finish_hex());
  result.uncompressed_size = m_diff_hash.size();
  if (m_compressor) {
    m_async->finish();  // everything is in the compressor; its thread has stopped
    m_compressor->finish();
    result.digest = Digest::from_hex(util::HashAlgorithm::Sha256, m_blob_hash.finish_hex());
    result.size = m_blob_hash.size();
  } else {
    result.digest = result.diff_id;
    result.size = result.uncompressed_size;
  }
  result.media_type = layer_media_type(m_compression);
  result.entries = m_entries;
  return result;
}

}  // namespace detail

namespace {

constexpr std::string_view k_wh_prefix = ".wh.";
constexpr std::string_view k_opaque = ".wh..wh..opq";

[[noreturn]] void bad_path(std::string_view path, const std::string& why) {
  util::fail(util::ErrorKind::InvalidInput,
             "layer entry '" + std::string(path) + "': " + why);
}

// Normalises a relative entry path (see the file comment); throws InvalidInput.
std::string normalize(std::string_view raw) {
  std::string_view p = raw;
  for (;;) {
    if (p.starts_with('/')) {
      p.remove_prefix(1);
    } else if (p.starts_with("./")) {
      p.remove_prefix(2);
    } else {
      break;
    }
  }
  while (p.ends_with('/')) {
    p.remove_suffix(1);
  }
  if (p.empty() || p == ".") {
    bad_path(raw, "the path is empty; name a file inside the layer");
  }
  if (p.find('\0') != std::string_view::npos) {
    bad_path(raw, "the path contains a NUL byte");
  }
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t end = std::min(p.find('/', start), p.size());
    const std::string_view comp = p.substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..") {
      bad_path(raw, "empty, '.' or '..' path components are not allowed");
    }
    if (comp.starts_with(k_wh_prefix)) {
      bad_path(raw, "names starting with \".wh.\" are reserved for whiteouts; use a "
                    "Whiteout or OpaqueWhiteout entry");
    }
    start = end + 1;
  }
  return std::string(p);
}

std::string whiteout_path(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return std::string(k_wh_prefix) + path;
  }
  return path.substr(0, slash + 1) + std::string(k_wh_prefix) + path.substr(slash + 1);
}

struct Item {
  std::string path;               // final path in the tar
  const LayerEntry* entry;        // null: a parent directory added here
  std::string link;               // Hardlink: normalised target
};

TarEntry header_for(const LayerEntry& e, std::string path, TarType type,
                    const LayerOptions& options) {
  TarEntry h;
  h.path = std::move(path);
  h.type = type;
  h.mode = e.mode;
  h.uid = e.uid;
  h.gid = e.gid;
  h.mtime = detail::clamp_mtime(e.mtime, options);
  h.xattrs.assign(e.xattrs.begin(), e.xattrs.end());
  return h;
}

void write_file(TarWriter& tar, TarEntry h, const LayerEntry& e) {
  if (e.source.empty()) {
    h.size = e.content.size();
    tar.write_header(h);
    tar.write_content(e.content.data(), e.content.size());
    return;
  }
  util::Fd fd(::open(e.source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    util::fail_errno("layer entry '" + e.path + "': cannot open its source " + e.source.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    util::fail_errno("cannot stat " + e.source.string());
  }
  if (!S_ISREG(st.st_mode)) {
    util::fail(util::ErrorKind::InvalidInput, "layer entry '" + e.path + "': source " +
                                                  e.source.string() + " is not a regular file");
  }
  h.size = static_cast<std::uint64_t>(st.st_size);
  tar.write_header(h);
  util::FileSource src(std::move(fd), e.source.string());
  tar.copy_content(src, h.size, e.source.string());
}

}  // namespace

LayerResult write_layer_from_entries(std::vector<LayerEntry> entries, const LayerOptions& options,
                                     util::Sink& out) {
  std::vector<Item> items;
  items.reserve(entries.size());
  std::unordered_map<std::string, std::size_t> index;  // path -> position in `items`
  for (const LayerEntry& e : entries) {
    std::string norm = normalize(e.path);
    Item item{{}, &e, {}};
    switch (e.type) {
      case LayerEntry::Type::Whiteout:
        item.path = whiteout_path(norm);
        break;
      case LayerEntry::Type::OpaqueWhiteout:
        item.path = norm + "/" + std::string(k_opaque);
        break;
      case LayerEntry::Type::Hardlink:
        if (e.link_target.empty()) {
          bad_path(e.path, "a hardlink needs link_target, the path of the file it links to");
        }
        item.link = normalize(e.link_target);
        item.path = std::move(norm);
        break;
      case LayerEntry::Type::Symlink:
        if (e.link_target.empty() || e.link_target.find('\0') != std::string::npos) {
          bad_path(e.path, "a symlink needs a non-empty link_target without NUL bytes");
        }
        item.path = std::move(norm);
        break;
      case LayerEntry::Type::File:
      case LayerEntry::Type::Directory:
        item.path = std::move(norm);
        break;
    }
    if (!index.emplace(item.path, items.size()).second) {
      bad_path(e.path, "the layer already has an entry for '" + item.path +
                           "'; every path may appear once");
    }
    items.push_back(std::move(item));
  }

  // Add missing parents; refuse children under a non-directory.
  const std::size_t given = items.size();
  for (std::size_t i = 0; i < given; ++i) {
    std::string_view path = items[i].path;
    for (auto slash = path.find('/'); slash != std::string_view::npos;
         slash = path.find('/', slash + 1)) {
      std::string parent(path.substr(0, slash));
      const auto it = index.find(parent);
      if (it == index.end()) {
        index.emplace(parent, items.size());
        items.push_back(Item{std::move(parent), nullptr, {}});
        path = items[i].path;  // push_back may have moved the string storage
      } else if (const LayerEntry* pe = items[it->second].entry;
                 pe != nullptr && pe->type != LayerEntry::Type::Directory) {
        bad_path(items[i].entry->path,
                 "its parent '" + parent + "' is an entry of this layer but not a directory");
      }
    }
  }

  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return tar_path_less(a.path, b.path); });
  index.clear();
  for (std::size_t i = 0; i < items.size(); ++i) {
    index.emplace(items[i].path, i);
  }

  detail::LayerPipeline pipeline(options, out);
  TarWriter& tar = pipeline.tar();
  // File item index -> path that carries its content (the first member of its link group).
  std::unordered_map<std::size_t, std::string> carrier;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Item& item = items[i];
    if (item.entry == nullptr) {
      TarEntry h;
      h.path = item.path;
      h.type = TarType::Directory;
      h.mode = 0755;
      h.mtime = options.source_date_epoch;
      tar.write_header(h);
      pipeline.count_entry();
      continue;
    }
    const LayerEntry& e = *item.entry;
    switch (e.type) {
      case LayerEntry::Type::Directory:
        tar.write_header(header_for(e, item.path, TarType::Directory, options));
        break;
      case LayerEntry::Type::Symlink: {
        TarEntry h = header_for(e, item.path, TarType::Symlink, options);
        h.link_target = e.link_target;
        tar.write_header(h);
        break;
      }
      case LayerEntry::Type::Whiteout:
      case LayerEntry::Type::OpaqueWhiteout: {
        TarEntry h = header_for(e, item.path, TarType::File, options);
        h.xattrs.clear();
        tar.write_header(h);
        break;
      }
      case LayerEntry::Type::File:
      case LayerEntry::Type::Hardlink: {
        std::size_t file = i;
        if (e.type == LayerEntry::Type::Hardlink) {
          const auto it = index.find(item.link);
          if (it == index.end() || items[it->second].entry == nullptr ||
              items[it->second].entry->type != LayerEntry::Type::File) {
            bad_path(e.path, "hardlink target '" + item.link +
                                 "' is not a regular file entry of this layer");
          }
          file = it->second;
        }
        const auto [it, first] = carrier.emplace(file, item.path);
        const LayerEntry& fe = *items[file].entry;
        if (first) {
          write_file(tar, header_for(fe, item.path, TarType::File, options), fe);
        } else {
          TarEntry h = header_for(fe, item.path, TarType::Hardlink, options);
          h.link_target = it->second;
          tar.write_header(h);
        }
        break;
      }
    }
    pipeline.count_entry();
  }
  return pipeline.finish();
}

}  // namespace strata::oci
