// `strata inspect oci:DIR[:TAG]` / `strata inspect NAME[:TAG]` (a store tag) /
// `strata inspect [docker://]HOST/REPO[:TAG]` (a registry; see cli/image_location.hpp. A
// host-like reference without docker:// is read from the store when `strata pull` tagged
// it there, so inspecting what was just pulled needs no network)
//
// Shows an image's manifest digest and media type, a summary of its config and its layers
// with their history. When the reference names an index, the manifest for the host
// platform (else the first one) is shown. --json prints {"digest", "media_type",
// "manifest", "config"} with the manifest and config as the stored JSON documents.
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "builder/build.hpp"
#include "cache/store.hpp"
#include "cli/app.hpp"
#include "cli/image_location.hpp"
#include "oci/image.hpp"
#include "oci/layout.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

struct InspectArgs {
  std::string ref;
  RemoteOptions remote;
};

/// Reads a blob by digest from wherever the image lives.
using BlobReader = std::function<std::string(const oci::Digest&)>;

struct Resolved {
  oci::Digest digest;
  std::string media_type;
  std::string manifest_json;
};

/// Follows an index down to one manifest: the host platform's, else the first.
Resolved resolve_manifest(Resolved top, const BlobReader& read, const std::string& what) {
  for (int depth = 0; depth < 4 && oci::media::is_index(top.media_type); ++depth) {
    const oci::Index index = oci::parse_index(top.manifest_json, what);
    if (index.manifests.empty()) {
      util::fail(util::ErrorKind::InvalidInput, what + ": the image index lists no manifests");
    }
    const oci::Platform host = oci::Platform::host();
    const oci::Descriptor* pick = &index.manifests.front();
    for (const auto& d : index.manifests) {
      if (d.platform && d.platform->os == host.os &&
          d.platform->architecture == host.architecture) {
        pick = &d;
        break;
      }
    }
    top.digest = pick->digest;
    top.manifest_json = read(pick->digest);
    top.media_type = oci::detect_media_type(top.manifest_json, pick->digest.str());
  }
  if (!oci::media::is_manifest(top.media_type)) {
    util::fail(util::ErrorKind::Unsupported,
               what + ": " + top.media_type + " is not an image manifest");
  }
  return top;
}

std::string join_json(const std::vector<std::string>& v) {
  return nlohmann::json(v).dump();
}

void print_human(const Resolved& r, const oci::Manifest& m, const oci::ImageConfig& c) {
  std::cout << "manifest    " << r.digest.str() << '\n';
  std::cout << "media type  " << r.media_type << '\n';
  std::cout << "config      " << m.config.digest.str() << '\n';
  std::cout << "platform    " << c.os << "/" << c.architecture
            << (c.variant.empty() ? "" : "/" + c.variant) << '\n';
  if (!c.created.empty()) {
    std::cout << "created     " << c.created << '\n';
  }
  const auto& rc = c.config;
  for (const auto& e : rc.env) {
    std::cout << "env         " << e << '\n';
  }
  if (rc.has_entrypoint || !rc.entrypoint.empty()) {
    std::cout << "entrypoint  " << join_json(rc.entrypoint) << '\n';
  }
  if (rc.has_cmd || !rc.cmd.empty()) {
    std::cout << "cmd         " << join_json(rc.cmd) << '\n';
  }
  if (!rc.working_dir.empty()) {
    std::cout << "workdir     " << rc.working_dir << '\n';
  }
  if (!rc.user.empty()) {
    std::cout << "user        " << rc.user << '\n';
  }
  for (const auto& p : rc.exposed_ports) {
    std::cout << "port        " << p << '\n';
  }
  for (const auto& [k, v] : rc.labels) {
    std::cout << "label       " << k << "=" << v << '\n';
  }
  for (const auto& [k, v] : m.annotations) {
    std::cout << "annotation  " << k << "=" << v << '\n';
  }
  // History entries with empty_layer do not correspond to a layer.
  std::vector<std::string> created_by;
  for (const auto& h : c.history) {
    if (!h.empty_layer) {
      created_by.push_back(h.created_by);
    }
  }
  std::cout << "layers      " << m.layers.size() << '\n';
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    const auto& l = m.layers[i];
    std::cout << "  " << l.digest.str() << "  " << l.size << "  " << l.media_type;
    if (i < created_by.size() && !created_by[i].empty()) {
      std::cout << "  " << created_by[i];
    }
    std::cout << '\n';
  }
}

void run_inspect(const InspectArgs& args, const GlobalOptions& global) {
  Resolved top;
  BlobReader read;
  std::unique_ptr<oci::LayoutReader> layout;
  std::unique_ptr<cache::Store> store;
  std::string what = args.ref;
  std::unique_ptr<registry::client::RegistryClient> client;
  const ImageLocation loc = parse_location(args.ref);
  bool remote = loc.kind == ImageLocation::Kind::Registry;
  if (remote && !args.ref.starts_with("docker://")) {
    // A host-like name that `strata pull` tagged in the store is read from the store.
    store = open_store(global);
    remote = !store->find_tag(registry::client::store_tag_for(loc.reference));
    store.reset();
  }
  if (remote) {
    client = make_client(loc.reference.registry, args.remote);
    const std::string repo = loc.reference.repository;
    client->add_scope(repo, "pull");
    read = [&client, repo](const oci::Digest& digest) {
      try {
        if (auto m = client->get_manifest(repo, digest.str())) {
          return m->bytes;
        }
      } catch (const util::Error& e) {
        if (e.kind() != util::ErrorKind::NotFound && e.kind() != util::ErrorKind::InvalidInput) {
          throw;
        }
      }
      return client->read_blob(repo, digest);
    };
    const auto top_manifest = client->get_manifest(repo, loc.reference.identifier());
    if (!top_manifest) {
      util::fail(util::ErrorKind::NotFound, loc.reference.str() + ": no such manifest in the registry");
    }
    top.digest = top_manifest->digest;
    what = loc.reference.str();
  } else if (args.ref.starts_with("oci:")) {
    auto [dir, ref] = oci::split_layout_ref(args.ref.substr(4));
    layout = std::make_unique<oci::LayoutReader>(dir);
    const oci::Descriptor d = layout->resolve(ref);
    read = [&layout](const oci::Digest& digest) { return layout->read_blob(digest); };
    top.digest = d.digest;
  } else {
    const auto [name, tag] = builder::split_name_tag(
        loc.kind == ImageLocation::Kind::Registry ? registry::client::store_tag_for(loc.reference)
                                                  : args.ref);
    store = std::make_unique<cache::Store>(global.store.empty() ? cache::Store::default_root()
                                                                : fs::path(global.store));
    const auto record = store->find_tag(name + ":" + tag);
    if (!record) {
      util::fail(util::ErrorKind::NotFound,
                 "no image tagged " + name + ":" + tag + " in the store " + store->root().string() +
                     " (build it with `strata build`, or inspect a layout with oci:DIR[:TAG])");
    }
    read = [&store](const oci::Digest& digest) { return store->read_blob(digest); };
    top.digest = record->manifest;
    what = name + ":" + tag;
  }
  top.manifest_json = read(top.digest);
  top.media_type = oci::detect_media_type(top.manifest_json, top.digest.str());
  const Resolved r = resolve_manifest(top, read, what);
  const oci::Manifest manifest = oci::parse_manifest(r.manifest_json, r.digest.str());
  const std::string config_json = read(manifest.config.digest);
  const oci::ImageConfig config =
      oci::parse_image_config(config_json, manifest.config.digest.str());

  if (global.json) {
    const nlohmann::json doc{{"digest", r.digest.str()},
                             {"media_type", r.media_type},
                             {"manifest", nlohmann::json::parse(r.manifest_json)},
                             {"config", nlohmann::json::parse(config_json)}};
    std::cout << doc.dump() << '\n';
    return;
  }
  print_human(r, manifest, config);
}

}  // namespace

void register_inspect(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show an image's manifest, config and layers");
  cmd->add_option("REF", args->ref,
                  "oci:DIR[:TAG] (an OCI layout), NAME[:TAG] (a store tag) or "
                  "[docker://]HOST/REPO[:TAG] (a registry; without docker:// a store tag of that "
                  "name, as `strata pull` sets, is used first)")
      ->required();
  add_remote_options(*cmd, args->remote);
  cmd->callback([args, &global] { run_inspect(*args, global); });
}

}  // namespace strata::cli
