// run_to_layer: a sandbox run whose upper dir becomes a layer blob in the store.
#include "builder/sandbox/sandbox.hpp"
#include "cache/store.hpp"
#include "util/fs.hpp"

namespace strata::builder::sandbox {

LayerRun run_to_layer(const RunOptions& options, cache::Store& store,
                      oci::LayerOptions layer_options, const std::filesystem::path& scratch_parent) {
  util::TempDir scratch("strata-run", scratch_parent);
  const std::filesystem::path upper = scratch.path() / "upper";
  LayerRun result;
  result.run = run(options, upper);
  layer_options.overlay_whiteouts = true;
  if (result.run.rootless) {
    // Only the caller is mapped into the user namespace, as 0:0: every file the command made
    // is root's inside the image, whatever the host says.
    layer_options.keep_owners = false;
  }
  cache::BlobWriter writer = store.begin_blob(oci::layer_media_type(layer_options.compression));
  result.layer = oci::write_layer_from_dir(upper, layer_options, writer);
  writer.commit(result.layer.digest);
  return result;
}

}  // namespace strata::builder::sandbox
