// SBOM inventory, package URLs and deterministic identifiers (see sbom.hpp).
#include "builder/sbom.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <map>
#include <cctype>
#include <memory>
#include <tuple>

#include "builder/debian_stack.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

namespace strata::builder {
namespace {

/// Percent-encodes everything but ASCII letters, digits, ".-_~" and (with keep_colon) ':'.
std::string percent_encode(std::string_view text, bool keep_colon) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '.' || c == '-' || c == '_' || c == '~' ||
        (keep_colon && c == ':')) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(k_hex[u >> 4]);
      out.push_back(k_hex[u & 0x0f]);
    }
  }
  return out;
}

/// Number of image layers contributed by `recipe` and its `from` chain.
std::size_t stack_layer_count(const Recipe& recipe) {
  return recipe.layers.size() + (recipe.parent ? stack_layer_count(*recipe.parent) : 0);
}

/// Index of the first image layer of `recipe` (its ancestors' layers come first).
std::size_t first_layer_index(const Recipe& recipe) {
  return recipe.parent ? stack_layer_count(*recipe.parent) : 0;
}

/// Maps recipe layers onto image layers. One to one when the counts agree; otherwise per
/// recipe, by the run of built layers that recipe defined (BuiltLayer::recipe): a recipe
/// whose run is longer than its layer list had a layer written in parts, and its layers'
/// positions are not known exactly.
class LayerMap {
 public:
  LayerMap(const Recipe& top, const BuildResult& result) : m_result(result) {
    m_one_to_one = result.layers.size() == stack_layer_count(top);
    if (m_one_to_one) {
      return;
    }
    std::vector<const Recipe*> chain;
    for (const Recipe* r = &top; r != nullptr; r = r->parent.get()) {
      chain.push_back(r);
    }
    std::size_t pos = 0;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      std::size_t end = pos;
      while (end < result.layers.size() && result.layers[end].recipe == (*it)->name) {
        ++end;
      }
      m_runs[*it] = {pos, end - pos};
      pos = end;
    }
  }

  [[nodiscard]] SbomLayer at(const Recipe& recipe, std::size_t index_in_recipe,
                             const std::string& layer_id) const {
    SbomLayer out;
    out.name = recipe.name + "/" + layer_id;
    if (m_one_to_one) {
      out.index = first_layer_index(recipe) + index_in_recipe;
    } else {
      const auto it = m_runs.find(&recipe);
      if (it == m_runs.end() || it->second.second != recipe.layers.size()) {
        out.exact = false;
        return out;
      }
      out.index = it->second.first + index_in_recipe;
    }
    out.digest = m_result.layers.at(out.index).digest;
    return out;
  }

 private:
  const BuildResult& m_result;
  bool m_one_to_one = true;
  std::map<const Recipe*, std::pair<std::size_t, std::size_t>> m_runs;  // start, length
};

}  // namespace

SbomInventory collect_inventory(const Recipe& recipe, const Lock* lock, const BuildResult& result) {
  if (result.layers.size() < stack_layer_count(recipe)) {
    util::fail(util::ErrorKind::InvalidInput,
               "image " + result.image.manifest.str() + " has " +
                   std::to_string(result.layers.size()) + " layers but recipe " +
                   recipe.file.string() + " defines " + std::to_string(stack_layer_count(recipe)) +
                   ": it was not built from this recipe");
  }
  const LayerMap layers(recipe, result);
  SbomInventory inv;
  inv.name = recipe.name;
  inv.tag = result.tag;
  inv.manifest = result.image.manifest;
  inv.manifest_size = result.image.manifest_json.size();
  inv.created = result.source_date_epoch;

  const std::vector<DebianLayerRef> debian = debian_layers(recipe);
  if (!debian.empty()) {
    if (lock == nullptr) {
      util::fail(util::ErrorKind::Conflict,
                 recipe.file.string() + " installs Debian packages but no lock was given; run "
                                        "`strata lock " + recipe.file.string() + "`");
    }
    const std::string why = lock_disagreement(recipe, *lock);
    if (!why.empty()) {
      util::fail(util::ErrorKind::Conflict,
                 lock_path_for(recipe.file).string() + " does not agree with " +
                     recipe.file.string() + ": " + why + "; run `strata lock " +
                     recipe.file.string() + "`");
    }
    if (lock->archive) {
      inv.distro = lock->archive->codename.empty() ? lock->archive->suite
                                                   : lock->archive->codename;
    }
    for (const auto& ref : debian) {
      const LockedLayer* entry = lock->find(ref.recipe->name, ref.layer_id);
      if (entry == nullptr) {
        continue;  // lock_disagreement() above rules this out
      }
      const SbomLayer where = layers.at(*ref.recipe, ref.index_in_recipe, ref.layer_id);
      for (const auto& p : entry->packages) {
        inv.packages.push_back(SbomPackage{p, where, debian_purl(p, inv.distro)});
      }
    }
  }

  // Fetched files, walking the stack bottom first.
  std::vector<const Recipe*> chain;
  for (const Recipe* r = &recipe; r != nullptr; r = r->parent.get()) {
    chain.push_back(r);
  }
  std::reverse(chain.begin(), chain.end());
  for (const Recipe* r : chain) {
    for (std::size_t i = 0; i < r->layers.size(); ++i) {
      const Layer& layer = r->layers[i];
      const std::string layer_id = layer.name.empty() ? "#" + std::to_string(i + 1) : layer.name;
      for (const auto& step : layer.steps) {
        if (const auto* fetch = std::get_if<FetchStep>(&step)) {
          SbomFetchedFile f;
          f.url = fetch->url;
          f.digest = fetch->digest;
          f.dest = fetch->dest;
          f.extracted = !fetch->extract.empty();
          f.layer = layers.at(*r, i, layer_id);
          inv.files.push_back(std::move(f));
        }
      }
    }
  }

  std::sort(inv.packages.begin(), inv.packages.end(), [](const auto& a, const auto& b) {
    return std::tie(a.package.name, a.package.architecture, a.layer.index) <
           std::tie(b.package.name, b.package.architecture, b.layer.index);
  });
  std::stable_sort(inv.files.begin(), inv.files.end(), [](const auto& a, const auto& b) {
    return std::tie(a.layer.index, a.dest, a.url) < std::tie(b.layer.index, b.dest, b.url);
  });
  return inv;
}

std::string debian_purl(const LockedPackage& package, std::string_view codename) {
  std::string out = "pkg:deb/debian/" + percent_encode(package.name, false) + "@" +
                    percent_encode(package.version, true) +
                    "?arch=" + percent_encode(package.architecture, false);
  if (!codename.empty()) {
    out += "&distro=" + percent_encode("debian-" + std::string(codename), false);
  }
  return out;
}

std::string oci_purl(std::string_view name, const oci::Digest& manifest, std::string_view tag) {
  std::string last(name.substr(name.find_last_of('/') == std::string_view::npos
                                   ? 0
                                   : name.find_last_of('/') + 1));
  std::transform(last.begin(), last.end(), last.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string out = "pkg:oci/" + percent_encode(last, false) + "@" +
                    percent_encode(manifest.str(), false);
  if (!tag.empty()) {
    out += "?tag=" + percent_encode(tag, false);
  }
  return out;
}

std::string spdx_document_namespace(std::string_view name, const oci::Digest& manifest) {
  return "https://strata.invalid/spdx/" + percent_encode(name, false) + "-" + manifest.hex();
}

std::string uuid_v5_url(std::string_view name) {
  // RFC 4122 NameSpace_URL 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
  static constexpr std::array<unsigned char, 16> k_namespace_url = {
      0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
      0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                &EVP_MD_CTX_free);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), k_namespace_url.data(), k_namespace_url.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), name.data(), name.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md.data(), &md_len) != 1 || md_len < 16) {
    util::fail(util::ErrorKind::Internal, "SHA-1 is not available from OpenSSL");
  }
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x50);
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);
  const std::string hex = util::to_hex(md.data(), 16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

std::string cyclonedx_serial_number(std::string_view name, const oci::Digest& manifest) {
  return "urn:uuid:" + uuid_v5_url("https://strata.invalid/cyclonedx/" +
                                   percent_encode(name, false) + "-" + manifest.hex());
}

}  // namespace strata::builder
