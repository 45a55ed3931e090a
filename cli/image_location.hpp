// Where an image lives, as the push/pull/copy/tags/inspect commands name it:
//   oci:DIR[:TAG]              an OCI image layout directory
//   docker://HOST/REPO[:TAG]   a registry (the docker:// prefix is optional when the first
//                              component looks like a host: it has a '.' or ':' or is
//                              "localhost", as Docker decides)
//   NAME[:TAG]                 a tag in the local store
#pragma once

#include <memory>
#include <string>

#include "cache/store.hpp"
#include "cli/app.hpp"
#include "oci/reference.hpp"
#include "registry/client/client.hpp"
#include "registry/client/transfer.hpp"

namespace strata::cli {

struct ImageLocation {
  enum class Kind { Layout, Registry, Store } kind = Kind::Store;
  std::string text;         // as given
  std::string layout_dir;   // Layout
  std::string layout_name;  // Layout (may be empty)
  oci::Reference reference; // Registry
  std::string store_name;   // Store: "NAME:TAG"
};

/// Classifies `text` (see the file comment). `registry_only` forces a registry reference
/// (the docker:// prefix optional). Throws InvalidInput explaining the accepted forms.
ImageLocation parse_location(const std::string& text, bool registry_only = false);

/// Options shared by the commands that talk to a registry.
struct RemoteOptions {
  bool insecure = false;    // --insecure: do not verify TLS certificates
  bool plain_http = false;  // --plain-http: http:// even for a non-loopback host
  std::size_t jobs = 4;     // --jobs
};

/// Adds --insecure, --plain-http and --jobs to a subcommand.
void add_remote_options(CLI::App& cmd, RemoteOptions& options);

/// A client for the registry of `reference` with the given options.
std::unique_ptr<registry::client::RegistryClient> make_client(const std::string& registry,
                                                              const RemoteOptions& options);

/// Opens the store named by --store / $STRATA_HOME.
std::unique_ptr<cache::Store> open_store(const GlobalOptions& global);

/// Progress lines on stderr unless quiet/json (thread-safe).
registry::client::ProgressFn progress_printer(const GlobalOptions& global);

}  // namespace strata::cli

namespace strata::cli {

/// What copy_image did.
struct CopyResult {
  oci::Digest digest;  // the manifest or index that was copied
  std::string media_type;
  registry::client::PushResult push;  // when the destination is a registry
};

/// Copies an image between any two locations (layout, store tag, registry). A registry
/// source is pulled into the store first (and tagged there as `strata pull` would). A push
/// mounts blobs from `mount_from` repositories, and from the source repository when the
/// source is a store tag pulled from the same registry.
CopyResult copy_image(const ImageLocation& src, const ImageLocation& dst,
                      const GlobalOptions& global, const RemoteOptions& remote,
                      const std::vector<std::string>& mount_from);

}  // namespace strata::cli

namespace strata::cli {
/// Prints the copied digest (or JSON with the push counters) on stdout.
void print_copy_result(const GlobalOptions& global, const CopyResult& result,
                       const std::string& destination);
}  // namespace strata::cli
