// `strata copy SRC DST`: images between OCI layouts (oci:DIR[:TAG]), store tags (NAME[:TAG])
// and registries ([docker://]HOST/REPO[:TAG]). Also the engine of `strata push`.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/image_location.hpp"
#include "oci/layout.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"

namespace strata::cli {
namespace {

using registry::client::BlobSource;

/// Every blob a manifest or index references (children manifests included, before their
/// own blobs), each once.
std::vector<oci::Descriptor> referenced(const std::string& bytes, const std::string& media_type,
                                        BlobSource& blobs, const std::string& what) {
  std::vector<oci::Descriptor> out;
  auto add_manifest = [&](const std::string& b, const std::string& w) {
    const oci::Manifest m = oci::parse_manifest(b, w);
    out.push_back(m.config);
    out.insert(out.end(), m.layers.begin(), m.layers.end());
  };
  if (oci::media::is_index(media_type)) {
    const oci::Index index = oci::parse_index(bytes, what);
    for (const auto& child : index.manifests) {
      add_manifest(blobs.read(child.digest), child.digest.str());
      out.push_back(child);
    }
  } else {
    add_manifest(bytes, what);
  }
  return out;
}

struct LocalImage {
  std::string bytes;
  std::string media_type;
  oci::Digest digest;
  std::unique_ptr<oci::LayoutReader> layout;
  std::unique_ptr<BlobSource> blobs;
};

LocalImage load_local(const ImageLocation& src, cache::Store* store) {
  LocalImage img;
  if (src.kind == ImageLocation::Kind::Layout) {
    img.layout = std::make_unique<oci::LayoutReader>(src.layout_dir);
    const oci::Descriptor d = img.layout->resolve(src.layout_name);
    img.bytes = img.layout->read_blob(d.digest);
    img.media_type = d.media_type.empty() ? oci::detect_media_type(img.bytes, src.text)
                                          : d.media_type;
    img.blobs = std::make_unique<registry::client::LayoutBlobs>(*img.layout);
  } else {
    const auto record = store->find_tag(src.store_name);
    if (!record) {
      util::fail(util::ErrorKind::NotFound,
                 "no image tagged " + src.store_name + " in the store " + store->root().string() +
                     " (build it with `strata build` or pull it with `strata pull`)");
    }
    img.bytes = store->read_blob(record->manifest);
    img.media_type = record->media_type.empty()
                         ? oci::detect_media_type(img.bytes, src.store_name)
                         : record->media_type;
    img.blobs = std::make_unique<registry::client::StoreBlobs>(*store);
  }
  img.digest = oci::Digest::of(img.bytes);
  return img;
}

}  // namespace

CopyResult copy_image(const ImageLocation& src_in, const ImageLocation& dst,
                      const GlobalOptions& global, const RemoteOptions& remote,
                      const std::vector<std::string>& mount_from) {
  std::unique_ptr<cache::Store> store;
  const bool needs_store = src_in.kind != ImageLocation::Kind::Layout ||
                           dst.kind == ImageLocation::Kind::Store;
  if (needs_store) {
    store = open_store(global);
  }
  ImageLocation src = src_in;
  if (src.kind == ImageLocation::Kind::Registry) {
    auto client = make_client(src.reference.registry, remote);
    registry::client::PullOptions po;
    po.jobs = remote.jobs;
    po.progress = progress_printer(global);
    const auto pulled = registry::client::pull_image(*client, src.reference, *store, po);
    src.kind = ImageLocation::Kind::Store;
    src.store_name = pulled.tag;
  }
  LocalImage img = load_local(src, store.get());
  CopyResult result;
  result.digest = img.digest;
  result.media_type = img.media_type;

  switch (dst.kind) {
    case ImageLocation::Kind::Registry: {
      auto client = make_client(dst.reference.registry, remote);
      registry::client::PushOptions po;
      po.jobs = remote.jobs;
      po.mount_from = mount_from;
      po.progress = progress_printer(global);
      if (src.kind == ImageLocation::Kind::Store) {
        // A store tag "host/repo:tag" made by `strata pull` from the same registry.
        try {
          const auto origin = oci::Reference::parse(src.store_name);
          if (origin.registry == dst.reference.registry &&
              origin.repository != dst.reference.repository) {
            po.mount_from.push_back(origin.repository);
          }
        } catch (const util::Error&) {
        }
      }
      result.push = registry::client::push_image(*client, dst.reference.repository,
                                                 dst.reference.tag, img.bytes, img.media_type,
                                                 *img.blobs, po);
      if (dst.reference.digest && *dst.reference.digest != img.digest) {
        util::fail(util::ErrorKind::InvalidInput,
                   dst.text + " names digest " + dst.reference.digest->str() + " but the image is " +
                       img.digest.str());
      }
      break;
    }
    case ImageLocation::Kind::Layout: {
      oci::LayoutWriter writer(dst.layout_dir);
      for (const auto& d : referenced(img.bytes, img.media_type, *img.blobs, src.text)) {
        if (!writer.has_blob(d.digest)) {
          auto in = img.blobs->open(d.digest);
          writer.add_blob(d.digest, *in);
        }
      }
      writer.add_blob(img.digest, img.bytes);
      oci::Descriptor top;
      top.media_type = img.media_type;
      top.digest = img.digest;
      top.size = static_cast<std::int64_t>(img.bytes.size());
      writer.add_manifest(top, dst.layout_name);
      writer.commit();
      break;
    }
    case ImageLocation::Kind::Store: {
      for (const auto& d : referenced(img.bytes, img.media_type, *img.blobs, src.text)) {
        if (store->has_blob(d.digest)) {
          store->touch_blob(d.digest);
          continue;
        }
        auto in = img.blobs->open(d.digest);
        auto w = store->begin_blob(d.media_type);
        util::copy_stream(*in, w);
        w.commit(d.digest);
      }
      store->put_blob(img.bytes, img.media_type);
      store->set_tag(cache::TagRecord{dst.store_name, img.digest, img.media_type, 0});
      break;
    }
  }
  return result;
}

namespace {

struct CopyArgs {
  std::string src;
  std::string dst;
  std::vector<std::string> mount_from;
  RemoteOptions remote;
};

void print_result(const GlobalOptions& global, const CopyResult& r, const std::string& dst) {
  if (global.json) {
    std::cout << nlohmann::json{{"digest", r.digest.str()},
                                {"media_type", r.media_type},
                                {"destination", dst},
                                {"uploaded", r.push.uploaded},
                                {"skipped", r.push.skipped},
                                {"mounted", r.push.mounted}}
                     .dump()
              << '\n';
  } else {
    std::cout << r.digest.str() << '\n';
  }
}

}  // namespace

void print_copy_result(const GlobalOptions& global, const CopyResult& r, const std::string& dst) {
  print_result(global, r, dst);
}

void register_copy(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<CopyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "copy", "Copy an image between OCI layouts, store tags and registries");
  cmd->add_option("SRC", args->src, "oci:DIR[:TAG], NAME[:TAG] or [docker://]HOST/REPO[:TAG]")
      ->required();
  cmd->add_option("DST", args->dst, "oci:DIR[:TAG], NAME[:TAG] or [docker://]HOST/REPO[:TAG]")
      ->required();
  cmd->add_option("--mount-from", args->mount_from,
                  "Repository of the destination registry to mount blobs from");
  add_remote_options(*cmd, args->remote);
  cmd->callback([args, &global] {
    const auto src = parse_location(args->src);
    const auto dst = parse_location(args->dst);
    print_result(global, copy_image(src, dst, global, args->remote, args->mount_from), args->dst);
  });
}

}  // namespace strata::cli
