// `strata layer pack DIR -o FILE` and `strata layer unpack FILE DIR`: the layer writer and
// the safe unpacker on their own, for debugging layers and for benchmarks.
//
// pack writes FILE atomically (or the layer to stdout with -o -, the summary then going to
// stderr) and prints diff_id, digest, size (--json: one object). The SOURCE_DATE_EPOCH
// defaults to the environment variable of that name, else 0, so that packing the same tree
// twice gives the same bytes. unpack verifies FILE against --digest before anything is
// written, guesses the media type from the first bytes when --media-type is not given, and
// creates DIR if needed.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/app.hpp"
#include "oci/digest.hpp"
#include "oci/layer_writer.hpp"
#include "oci/media_types.hpp"
#include "oci/unpacker.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/io.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

struct PackArgs {
  std::string dir;
  std::string output;
  std::string compression = "zstd";
  std::optional<int> level;
  int threads = 0;
  std::optional<std::int64_t> source_date_epoch;
  bool overlay_whiteouts = false;
  bool root_owner = false;
};

struct UnpackArgs {
  std::string file;
  std::string dir;
  std::string media_type;
  std::string digest;
  bool preserve_owners = false;
};

std::int64_t env_source_date_epoch() {
  const char* env = std::getenv("SOURCE_DATE_EPOCH");
  if (env == nullptr || *env == '\0') {
    return 0;
  }
  try {
    std::size_t used = 0;
    const long long v = std::stoll(env, &used);
    if (used == std::string(env).size()) {
      return v;
    }
  } catch (const std::exception&) {
  }
  util::fail(util::ErrorKind::InvalidInput,
             std::string("SOURCE_DATE_EPOCH='") + env +
                 "' is not a number of seconds since 1970; fix or unset it");
}

void run_pack(const PackArgs& args, const GlobalOptions& global) {
  oci::LayerOptions options;
  if (args.compression == "zstd") {
    options.compression = oci::Compression::Zstd;
  } else if (args.compression == "gzip") {
    options.compression = oci::Compression::Gzip;
  } else {
    options.compression = oci::Compression::None;
  }
  options.level = args.level.value_or(options.compression == oci::Compression::Gzip ? 6 : 3);
  options.threads = args.threads;
  options.source_date_epoch = args.source_date_epoch.value_or(env_source_date_epoch());
  options.overlay_whiteouts = args.overlay_whiteouts;
  options.keep_owners = !args.root_owner;

  oci::LayerResult result;
  const bool to_stdout = args.output == "-";
  if (to_stdout) {
    util::FdSink out(STDOUT_FILENO, "stdout");
    result = oci::write_layer_from_dir(args.dir, options, out);
  } else {
    util::AtomicFile out(args.output);
    result = oci::write_layer_from_dir(args.dir, options, out);
    out.commit();
  }

  std::ostream& os = to_stdout ? std::cerr : std::cout;
  if (global.json) {
    const nlohmann::json doc{{"diff_id", result.diff_id.str()},
                             {"digest", result.digest.str()},
                             {"size", result.size},
                             {"uncompressed_size", result.uncompressed_size},
                             {"media_type", result.media_type},
                             {"entries", result.entries},
                             {"output", args.output}};
    os << doc.dump() << '\n';
  } else if (!global.quiet || !to_stdout) {
    os << "diff_id:    " << result.diff_id.str() << '\n'
       << "digest:     " << result.digest.str() << '\n'
       << "size:       " << result.size << '\n'
       << "media_type: " << result.media_type << '\n'
       << "entries:    " << result.entries << '\n';
  }
}

// Media type from the first bytes of a layer file.
std::string sniff_media_type(const std::string& file) {
  util::FileSource src(file);
  unsigned char head[512] = {};
  std::size_t got = 0;
  while (got < sizeof head) {
    const std::size_t n = src.read(head + got, sizeof head - got);
    if (n == 0) {
      break;
    }
    got += n;
  }
  if (got >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD) {
    return std::string(oci::media::k_oci_layer_zstd);
  }
  if (got >= 2 && head[0] == 0x1F && head[1] == 0x8B) {
    return std::string(oci::media::k_oci_layer_gzip);
  }
  if (got == sizeof head && std::string_view(reinterpret_cast<const char*>(head) + 257, 5) ==
                                "ustar") {
    return std::string(oci::media::k_oci_layer_tar);
  }
  util::fail(util::ErrorKind::InvalidInput,
             file + ": cannot tell the layer's compression from its first bytes (not zstd, "
                    "gzip or a ustar/PAX tar); pass --media-type");
}

void run_unpack(const UnpackArgs& args, const GlobalOptions& global) {
  if (!fs::is_regular_file(args.file)) {
    util::fail(util::ErrorKind::NotFound, args.file + ": no such layer file");
  }
  oci::Digest digest;
  if (!args.digest.empty()) {
    const oci::Digest expected = oci::Digest::parse(args.digest);
    const auto algorithm = expected.hash_algorithm();
    if (!algorithm) {
      util::fail(util::ErrorKind::Unsupported,
                 "--digest " + args.digest + ": strata can only verify sha256 and sha512");
    }
    digest = oci::Digest::of_file(args.file, *algorithm);
    if (digest != expected) {
      util::fail(util::ErrorKind::Corruption, args.file + " has digest " + digest.str() +
                                                  ", not " + expected.str() +
                                                  "; nothing was unpacked");
    }
  }
  // Without --digest nothing is verified and the file is not hashed at all (hashing only to
  // print a digest would cost a full extra read); errors then name the file instead.
  const std::string media_type =
      args.media_type.empty() ? sniff_media_type(args.file) : args.media_type;
  std::error_code ec;
  fs::create_directories(args.dir, ec);
  if (ec) {
    util::fail(util::ErrorKind::IO, "cannot create " + args.dir + ": " + ec.message());
  }
  oci::UnpackOptions options;
  options.preserve_owners = args.preserve_owners;
  util::FileSource source(args.file);
  oci::UnpackStats stats;
  try {
    stats = oci::unpack_layer(args.dir, source, media_type, digest, options);
  } catch (const util::Error& e) {
    if (!digest.empty()) {
      throw;
    }
    throw util::Error(e.kind(), args.file + ": " + e.what());
  }
  const std::string shown = digest.empty() ? std::string("(not verified; pass --digest)") : digest.str();
  if (global.json) {
    nlohmann::json doc{{"media_type", media_type},
                             {"entries", stats.entries},
                             {"bytes", stats.bytes},
                             {"whiteouts", stats.whiteouts},
                             {"dir", args.dir}};
    if (!digest.empty()) {
      doc["digest"] = digest.str();
    }
    std::cout << doc.dump() << '\n';
  } else if (!global.quiet) {
    std::cout << "digest:     " << shown << '\n'
              << "media_type: " << media_type << '\n'
              << "entries:    " << stats.entries << '\n'
              << "bytes:      " << stats.bytes << '\n'
              << "whiteouts:  " << stats.whiteouts << '\n';
  }
}

}  // namespace

void register_layer(CLI::App& app, GlobalOptions& global) {
  CLI::App* layer = app.add_subcommand("layer", "Pack a directory into a layer, or unpack one");
  layer->require_subcommand(1);

  auto pack_args = std::make_shared<PackArgs>();
  CLI::App* pack = layer->add_subcommand(
      "pack", "Write DIR as a reproducible OCI layer and print its diff_id, digest and size");
  pack->add_option("DIR", pack_args->dir, "Directory to pack (not itself an entry)")
      ->required()
      ->check(CLI::ExistingDirectory);
  pack->add_option("-o,--output", pack_args->output, "Layer file to write, or - for stdout")
      ->required();
  pack->add_option("--compression", pack_args->compression, "zstd (default), gzip or none")
      ->check(CLI::IsMember({"zstd", "gzip", "none"}));
  pack->add_option("--level", pack_args->level,
                   "Compression level (zstd 1..22, default 3; gzip 1..9, default 6)");
  pack->add_option("--threads", pack_args->threads,
                   "zstd worker threads; 0 = CPUs, at most 4 (output is the same for any value)");
  pack->add_option("--source-date-epoch", pack_args->source_date_epoch,
                   "Clamp mtimes to this (default: $SOURCE_DATE_EPOCH, else 0)");
  pack->add_flag("--overlay-whiteouts", pack_args->overlay_whiteouts,
                 "DIR is an overlayfs upper dir: char 0:0 -> .wh.NAME, opaque dirs -> "
                 ".wh..wh..opq");
  pack->add_flag("--root-owner", pack_args->root_owner, "Record every entry as owned by 0:0");
  pack->callback([pack_args, &global] { run_pack(*pack_args, global); });

  auto unpack_args = std::make_shared<UnpackArgs>();
  CLI::App* unpack = layer->add_subcommand(
      "unpack", "Apply a layer file onto DIR safely (created if missing)");
  unpack->add_option("FILE", unpack_args->file, "Layer blob (tar, tar+gzip or tar+zstd)")
      ->required();
  unpack->add_option("DIR", unpack_args->dir, "Directory to apply the layer onto")->required();
  unpack->add_option("--media-type", unpack_args->media_type,
                     "Layer media type (default: guessed from the first bytes)");
  unpack->add_option("--digest", unpack_args->digest,
                     "Expected digest of FILE, verified before anything is written");
  unpack->add_flag("--preserve-owners", unpack_args->preserve_owners,
                   "Restore uid/gid from the layer (needs root or a user namespace)");
  unpack->callback([unpack_args, &global] { run_unpack(*unpack_args, global); });
}

}  // namespace strata::cli
