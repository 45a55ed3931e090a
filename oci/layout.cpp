// OCI image layout directories. The writer keeps index.json in memory, adds blobs as it
// goes (temp file + rename, digest checked before the rename) and rewrites index.json on
// commit(). index.json entries are kept sorted by ref name, then digest, so adding the same
// images in another order gives the same bytes.
#include "oci/layout.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace strata::oci {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_layout_version = "1.0.0";

std::string ref_name_of(const Descriptor& d) {
  const auto it = d.annotations.find(std::string(k_ref_name_annotation));
  return it == d.annotations.end() ? std::string() : it->second;
}

fs::path blob_path_in(const fs::path& dir, const Digest& digest) {
  return dir / "blobs" / digest.algorithm() / digest.hex();
}

bool is_ref_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_ref_separator(char c) {
  return c == '-' || c == '.' || c == '_' || c == ':' || c == '@' || c == '+';
}

// image-spec annotations.md: ref ::= component ("/" component)*,
// component ::= alphanum (separator alphanum)*, separator ::= [-._:@+] | "--".
bool valid_ref_name(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  std::size_t i = 0;
  const std::size_t n = s.size();
  for (;;) {
    // component
    if (i >= n || !is_ref_alnum(s[i])) {
      return false;
    }
    while (i < n && is_ref_alnum(s[i])) {
      ++i;
    }
    while (i < n && s[i] != '/') {
      if (s[i] == '-' && i + 1 < n && s[i + 1] == '-') {
        i += 2;
      } else if (is_ref_separator(s[i])) {
        ++i;
      } else {
        return false;
      }
      if (i >= n || !is_ref_alnum(s[i])) {
        return false;
      }
      while (i < n && is_ref_alnum(s[i])) {
        ++i;
      }
    }
    if (i == n) {
      return true;
    }
    ++i;  // '/'
  }
}

void sort_entries(std::vector<Descriptor>& entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const Descriptor& a, const Descriptor& b) {
    const std::string ra = ref_name_of(a);
    const std::string rb = ref_name_of(b);
    if (ra != rb) {
      return ra < rb;
    }
    return a.digest < b.digest;
  });
}

}  // namespace

LayoutWriter::LayoutWriter(fs::path dir) : m_dir(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(m_dir / "blobs", ec);
  if (ec) {
    util::fail(util::ErrorKind::IO,
               "cannot create OCI layout directory " + m_dir.string() + ": " + ec.message());
  }
  const fs::path index_path = m_dir / "index.json";
  if (fs::exists(index_path)) {
    // Adding to an existing layout: keep what it names. LayoutReader checks oci-layout.
    m_index = LayoutReader(m_dir).index();
  }
  m_index.schema_version = 2;
  m_index.media_type = std::string(media::k_oci_index);
}

bool LayoutWriter::has_blob(const Digest& digest) const {
  std::error_code ec;
  return fs::is_regular_file(blob_path_in(m_dir, digest), ec);
}

void LayoutWriter::add_blob(const Digest& digest, util::Source& content) {
  const auto alg = digest.hash_algorithm();
  if (!alg) {
    util::fail(util::ErrorKind::Unsupported,
               "cannot store blob " + digest.str() + " in " + m_dir.string() +
                   ": strata verifies only sha256 and sha512 digests");
  }
  if (has_blob(digest)) {
    return;
  }
  const fs::path target = blob_path_in(m_dir, digest);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) {
    util::fail(util::ErrorKind::IO,
               "cannot create " + target.parent_path().string() + ": " + ec.message());
  }
  util::AtomicFile file(target);
  util::HashingSink hashing(&file, *alg);
  util::copy_stream(content, hashing);
  const Digest got = Digest::from_hex(*alg, hashing.finish_hex());
  if (got != digest) {
    file.abort();
    util::fail(util::ErrorKind::Corruption,
               "blob " + digest.str() + " for " + m_dir.string() + ": content hashes to " +
                   got.str() + "; the source is damaged or the descriptor is wrong");
  }
  file.commit();
}

void LayoutWriter::add_blob(const Digest& digest, std::string_view content) {
  util::StringSource source(content);
  add_blob(digest, source);
}

void LayoutWriter::add_manifest(const Descriptor& descriptor, const std::string& ref_name) {
  if (!ref_name.empty() && !valid_ref_name(ref_name)) {
    util::fail(util::ErrorKind::InvalidInput,
               "invalid image name '" + ref_name + "' for OCI layout " + m_dir.string() +
                   ": use letters, digits and separators - . _ : @ + between them, "
                   "components joined by '/'");
  }
  Descriptor entry = descriptor;
  entry.annotations.erase(std::string(k_ref_name_annotation));
  if (!ref_name.empty()) {
    entry.annotations[std::string(k_ref_name_annotation)] = ref_name;
  }
  auto& entries = m_index.manifests;
  std::erase_if(entries, [&](const Descriptor& d) {
    const std::string name = ref_name_of(d);
    // A name moves to the new image; an unnamed entry is not added twice.
    return ref_name.empty() ? (name.empty() && d.digest == entry.digest) : name == ref_name;
  });
  entries.push_back(std::move(entry));
  sort_entries(entries);
}

void LayoutWriter::commit() {
  sort_entries(m_index.manifests);  // also orders entries read from another tool's index.json
  for (const auto& d : m_index.manifests) {
    if (!has_blob(d.digest)) {
      util::fail(util::ErrorKind::NotFound,
                 "OCI layout " + m_dir.string() + ": index.json would name " + d.digest.str() +
                     " but that blob was never added; add the manifest blob first");
    }
  }
  const fs::path layout_file = m_dir / "oci-layout";
  const std::string layout_json =
      nlohmann::json{{"imageLayoutVersion", k_layout_version}}.dump();
  std::error_code ec;
  if (!fs::exists(layout_file, ec)) {
    util::write_file_atomic(layout_file, layout_json);
  }
  util::write_file_atomic(m_dir / "index.json", to_json(m_index));
}

LayoutReader::LayoutReader(fs::path dir) : m_dir(std::move(dir)) {
  const fs::path layout_file = m_dir / "oci-layout";
  std::error_code ec;
  if (!fs::is_directory(m_dir, ec)) {
    util::fail(util::ErrorKind::NotFound, "OCI layout directory " + m_dir.string() + " does not exist");
  }
  if (!fs::exists(layout_file, ec)) {
    util::fail(util::ErrorKind::NotFound,
               m_dir.string() + " is not an OCI image layout: it has no oci-layout file");
  }
  const std::string text = util::read_file(layout_file);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    util::fail(util::ErrorKind::InvalidInput,
               layout_file.string() + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("imageLayoutVersion") || !j["imageLayoutVersion"].is_string()) {
    util::fail(util::ErrorKind::InvalidInput,
               layout_file.string() + ": imageLayoutVersion: missing (a string is required)");
  }
  const auto version = j["imageLayoutVersion"].get<std::string>();
  if (version.rfind("1.", 0) != 0) {
    util::fail(util::ErrorKind::Unsupported,
               layout_file.string() + ": imageLayoutVersion \"" + version +
                   "\" is not supported (strata reads 1.x layouts)");
  }
  const fs::path index_path = m_dir / "index.json";
  m_index = parse_index(util::read_file(index_path), index_path.string());
}

Descriptor LayoutReader::resolve(const std::string& ref_name) const {
  const auto& entries = m_index.manifests;
  if (ref_name.empty()) {
    if (entries.size() == 1) {
      return entries.front();
    }
    if (entries.empty()) {
      util::fail(util::ErrorKind::NotFound, "OCI layout " + m_dir.string() + " holds no image");
    }
  } else {
    for (const auto& d : entries) {
      if (ref_name_of(d) == ref_name) {
        return d;
      }
    }
  }
  std::string names;
  for (const auto& d : entries) {
    const std::string name = ref_name_of(d);
    names += names.empty() ? "" : ", ";
    names += name.empty() ? "(unnamed " + d.digest.str() + ")" : name;
  }
  if (ref_name.empty()) {
    util::fail(util::ErrorKind::InvalidInput,
               "OCI layout " + m_dir.string() + " holds several images; name one of: " + names);
  }
  util::fail(util::ErrorKind::NotFound, "OCI layout " + m_dir.string() + " has no image named '" +
                                            ref_name + "' (it has: " + names + ")");
}

fs::path LayoutReader::blob_path(const Digest& digest) const { return blob_path_in(m_dir, digest); }

bool LayoutReader::has_blob(const Digest& digest) const {
  std::error_code ec;
  return fs::is_regular_file(blob_path(digest), ec);
}

std::string LayoutReader::read_blob(const Digest& digest) const {
  const auto alg = digest.hash_algorithm();
  if (!alg) {
    util::fail(util::ErrorKind::Unsupported,
               "cannot verify blob " + digest.str() + ": strata verifies only sha256 and sha512");
  }
  const fs::path path = blob_path(digest);
  if (!has_blob(digest)) {
    util::fail(util::ErrorKind::NotFound,
               "OCI layout " + m_dir.string() + " has no blob " + digest.str());
  }
  std::string data = util::read_file(path);
  const Digest got = Digest::of(data, *alg);
  if (got != digest) {
    util::fail(util::ErrorKind::Corruption,
               "blob " + path.string() + " is corrupt: its content hashes to " + got.str() +
                   "; restore it or rewrite the layout");
  }
  return data;
}

std::pair<fs::path, std::string> split_layout_ref(const std::string& text) {
  // Like containers/image's oci: transport on Unix: everything up to the first ':' is the
  // directory, the rest (which may itself hold ':' and '/') is the image name.
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    return {fs::path(text), std::string()};
  }
  return {fs::path(text.substr(0, colon)), text.substr(colon + 1)};
}

}  // namespace strata::oci
