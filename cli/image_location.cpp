#include "cli/image_location.hpp"

#include <iostream>
#include <mutex>

#include "builder/build.hpp"
#include "oci/layout.hpp"
#include "util/error.hpp"

namespace strata::cli {

ImageLocation parse_location(const std::string& text, bool registry_only) {
  ImageLocation loc;
  loc.text = text;
  if (text.starts_with("oci:") && !registry_only) {
    loc.kind = ImageLocation::Kind::Layout;
    auto [dir, name] = oci::split_layout_ref(text.substr(4));
    loc.layout_dir = dir.string();
    loc.layout_name = name;
    return loc;
  }
  std::string rest = text;
  bool remote = registry_only;
  if (rest.starts_with("docker://")) {
    rest = rest.substr(9);
    remote = true;
  }
  const auto slash = rest.find('/');
  if (!remote && slash != std::string::npos) {
    const std::string first = rest.substr(0, slash);
    remote = first.find_first_of(".:") != std::string::npos || first == "localhost";
  }
  if (remote) {
    loc.kind = ImageLocation::Kind::Registry;
    loc.reference = oci::Reference::parse(rest);
    return loc;
  }
  loc.kind = ImageLocation::Kind::Store;
  const auto [name, tag] = builder::split_name_tag(text);
  loc.store_name = name + ":" + tag;
  return loc;
}

void add_remote_options(CLI::App& cmd, RemoteOptions& options) {
  cmd.add_flag("--insecure", options.insecure,
               "Do not verify the registry's TLS certificate (testing only)");
  cmd.add_flag("--plain-http", options.plain_http,
               "Use http:// for this registry (loopback hosts and $STRATA_INSECURE_REGISTRIES "
               "use it by default)");
  cmd.add_option("-j,--jobs", options.jobs, "Blobs transferred at once")
      ->default_val(4)
      ->check(CLI::Range(1, 64));
}

std::unique_ptr<registry::client::RegistryClient> make_client(const std::string& registry,
                                                              const RemoteOptions& options) {
  registry::client::ClientOptions o;
  o.http.insecure_tls = options.insecure;
  o.plain_http = options.plain_http;
  return std::make_unique<registry::client::RegistryClient>(registry, o);
}

std::unique_ptr<cache::Store> open_store(const GlobalOptions& global) {
  return std::make_unique<cache::Store>(global.store.empty() ? cache::Store::default_root()
                                                             : std::filesystem::path(global.store));
}

registry::client::ProgressFn progress_printer(const GlobalOptions& global) {
  if (global.quiet || global.json) {
    return {};
  }
  auto mutex = std::make_shared<std::mutex>();
  return [mutex](const std::string& line) {
    std::lock_guard lock(*mutex);
    std::cerr << line << '\n';
  };
}

}  // namespace strata::cli
