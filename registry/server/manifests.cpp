// Manifest GET/HEAD/PUT/DELETE by tag or digest.
//
// A PUT reads the body (at most k_max_manifest_size bytes, else 413), validates it
// (manifest_check.hpp), checks that every referenced blob or child manifest is in the
// repository (subject excepted, as the spec requires), stores the exact bytes in the store
// under their digest and records manifest, tags and referrers entry in one transaction.
//
// Re-pushing a manifest that is already stored (a tag moved back, an index pushed again)
// renews the GC leases of everything it keeps alive, before it is recorded: the reference
// check touches the links of its direct references, the links below child manifests the
// repository holds are touched too (an index's children's config and layers, recursively,
// as GC's mark descends), and the manifest's own bytes are stored again through the store,
// which refreshes their row. A GC whose mark ran before the PUT re-checks every removal
// against those times (gc.cpp), so it keeps them; what it removed before the PUT is
// reported as MANIFEST_BLOB_UNKNOWN instead of leaving a manifest with missing blobs.
#include <charconv>
#include <set>

#include "oci/reference.hpp"
#include "registry/server/context.hpp"
#include "registry/server/manifest_check.hpp"
#include "util/error.hpp"

namespace strata::registry {

namespace {

struct TooLarge {};

bool is_digest_reference(const std::string& ref) { return ref.find(':') != std::string::npos; }

void check_tag(const std::string& tag) {
  if (!oci::is_valid_tag(tag)) {
    throw ApiError(400, ErrorCode::ManifestInvalid,
                   "invalid tag \"" + tag.substr(0, 200) +
                       "\": tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
                   {{"tag", tag.substr(0, 200)}});
  }
}

ApiError manifest_unknown(const std::string& repo, const std::string& ref) {
  return ApiError(404, ErrorCode::ManifestUnknown,
                  "manifest " + ref + " is not in repository " + repo, {{"reference", ref}});
}

/// Resolves a tag or digest reference to the stored manifest; throws 404/400.
ManifestRecord resolve(Context& ctx, const std::string& repo, const std::string& ref) {
  std::string digest;
  if (is_digest_reference(ref)) {
    digest = parse_digest_param(ref, false).str();
  } else {
    check_tag(ref);
    auto target = ctx.meta.resolve_tag(repo, ref);
    if (!target) {
      throw manifest_unknown(repo, ref);
    }
    digest = *target;
  }
  auto rec = ctx.meta.find_manifest(repo, digest);
  if (!rec) {
    throw manifest_unknown(repo, ref);
  }
  return *rec;
}

std::string read_manifest_body(Call& call) {
  const std::string cl = call.req.get_header_value("Content-Length");
  const auto too_large = [] {
    return ApiError(413, ErrorCode::ManifestInvalid,
                    "manifest larger than " + std::to_string(k_max_manifest_size) +
                        " bytes; this registry accepts manifests up to 4 MiB",
                    {{"limit", k_max_manifest_size}});
  };
  std::uint64_t announced = 0;
  const auto parsed = std::from_chars(cl.data(), cl.data() + cl.size(), announced);
  if (!cl.empty() && parsed.ec == std::errc{} && announced > k_max_manifest_size) {
    throw too_large();
  }
  std::string body;
  try {
    call.read_body(
        [&](const char* data, std::size_t size) {
          if (body.size() + size > k_max_manifest_size) {
            throw TooLarge{};
          }
          body.append(data, size);
        },
        ErrorCode::ManifestInvalid);
  } catch (const TooLarge&) {
    throw too_large();
  }
  return body;
}

/// True when `repo` links `digest` and the store holds it; refreshes the link's lease.
bool present(Context& ctx, const std::string& repo, const std::string& digest) {
  const auto d = oci::Digest::try_parse(digest);
  return ctx.meta.blob_linked(repo, digest) && d && ctx.store.has_blob(*d);
}

/// Renews the leases of everything below the manifests among `references` that `repo`
/// holds (see the top of this file). `references` themselves were checked and touched.
/// Returns the digests below them that are gone.
std::vector<std::string> refresh_descendants(Context& ctx, const std::string& repo,
                                             const std::vector<std::string>& references) {
  std::set<std::string> seen(references.begin(), references.end());
  std::vector<std::string> pending(references.begin(), references.end());
  std::vector<std::string> gone;
  while (!pending.empty()) {
    const std::string digest = std::move(pending.back());
    pending.pop_back();
    const auto rec = ctx.meta.find_manifest(repo, digest);
    const auto parsed = oci::Digest::try_parse(digest);
    if (!rec || !parsed) {
      continue;  // a blob, not a manifest
    }
    ManifestInfo child;
    try {
      child = inspect_manifest(ctx.store.read_blob(*parsed), rec->media_type);
    } catch (const ApiError&) {
      continue;  // was valid when pushed; fsck reports a damaged one
    } catch (const util::Error& e) {
      if (e.kind() != util::ErrorKind::NotFound) {
        throw;
      }
      gone.push_back(digest);
      continue;
    }
    for (auto& ref : child.references) {
      if (!seen.insert(ref).second) {
        continue;
      }
      if (present(ctx, repo, ref)) {
        pending.push_back(std::move(ref));
      } else {
        gone.push_back(std::move(ref));
      }
    }
  }
  return gone;
}

/// Stores the manifest bytes, or refreshes the row of the copy already stored, so that a
/// concurrent GC keeps them until the manifest is linked.
void store_manifest_bytes(Context& ctx, const std::string& body, const ManifestInfo& info,
                          const oci::Digest& digest) {
  if (digest.algorithm() == "sha256") {
    ctx.store.put_blob(body, info.media_type);
    return;
  }
  auto writer = ctx.store.begin_blob(info.media_type, *digest.hash_algorithm());
  writer.write(body);
  writer.commit(digest);
}

}  // namespace

void get_manifest(Context& ctx, Call& call, const std::string& repo, const std::string& ref) {
  check_repository(repo);
  const ManifestRecord rec = resolve(ctx, repo, ref);
  const oci::Digest digest = oci::Digest::parse(rec.digest);
  std::string bytes;
  try {
    bytes = ctx.store.read_blob(digest);
  } catch (const util::Error& e) {
    if (e.kind() == util::ErrorKind::NotFound) {
      throw manifest_unknown(repo, ref);  // recorded, but gone from the store
    }
    throw;
  }
  call.res.status = 200;
  call.res.set_header("Docker-Content-Digest", rec.digest);
  call.res.set_header("ETag", "\"" + rec.digest + "\"");
  call.res.set_content(bytes, rec.media_type);
}

void put_manifest(Context& ctx, Call& call, const std::string& repo, const std::string& ref) {
  check_repository(repo);
  std::optional<oci::Digest> by_digest;
  std::vector<std::string> tags;
  if (is_digest_reference(ref)) {
    by_digest = parse_digest_param(ref, true);
    tags = call.query.all("tag");
  } else {
    tags.push_back(ref);
  }
  for (const auto& tag : tags) {
    check_tag(tag);
  }
  const std::string body = read_manifest_body(call);
  const auto algorithm = by_digest ? *by_digest->hash_algorithm() : util::HashAlgorithm::Sha256;
  const oci::Digest digest = oci::Digest::of(body, algorithm);
  if (by_digest && *by_digest != digest) {
    throw ApiError(400, ErrorCode::DigestInvalid,
                   "manifest pushed as " + by_digest->str() + " has digest " + digest.str(),
                   {{"digest", by_digest->str()}});
  }
  const ManifestInfo info = inspect_manifest(body, call.req.get_header_value("Content-Type"));

  nlohmann::json missing = nlohmann::json::array();
  for (const auto& ref_digest : info.references) {
    if (!present(ctx, repo, ref_digest)) {
      missing.push_back(ref_digest);
    }
  }
  if (!missing.empty()) {
    throw ApiError(400, ErrorCode::ManifestBlobUnknown,
                   "manifest " + digest.str() + " references " + std::to_string(missing.size()) +
                       " blob(s) or manifest(s) not in repository " + repo +
                       " (first: " + missing[0].get<std::string>() + "); push them first",
                   {{"digests", missing}});
  }
  const auto gone = refresh_descendants(ctx, repo, info.references);
  if (!gone.empty()) {
    throw ApiError(400, ErrorCode::ManifestBlobUnknown,
                   "manifest " + digest.str() + " references manifests whose own blobs are no " +
                       "longer in repository " + repo + " (" + std::to_string(gone.size()) +
                       ", first: " + gone.front() +
                       ", removed by garbage collection); push those manifests again first",
                   {{"digests", gone}});
  }

  store_manifest_bytes(ctx, body, info, digest);
  ManifestPut put;
  put.repo = repo;
  put.digest = digest.str();
  put.media_type = info.media_type;
  put.size = body.size();
  put.tags = tags;
  put.subject = info.subject;
  put.artifact_type = info.artifact_type;
  put.annotations_json = info.annotations_json;
  put.now = ctx.now();
  ctx.meta.put_manifest(put);

  call.res.status = 201;
  call.res.set_header("Location", "/v2/" + repo + "/manifests/" + digest.str());
  call.res.set_header("Docker-Content-Digest", digest.str());
  if (info.subject) {
    call.res.set_header("OCI-Subject", *info.subject);
  }
  if (by_digest) {
    for (const auto& tag : tags) {
      call.res.set_header("OCI-Tag", tag);
    }
  }
}

void delete_manifest(Context& ctx, Call& call, const std::string& repo, const std::string& ref) {
  check_repository(repo);
  bool deleted = false;
  if (is_digest_reference(ref)) {
    deleted = ctx.meta.delete_manifest(repo, parse_digest_param(ref, false).str());
  } else {
    check_tag(ref);
    deleted = ctx.meta.delete_tag(repo, ref);
  }
  if (!deleted) {
    throw manifest_unknown(repo, ref);
  }
  call.res.status = 202;
}

}  // namespace strata::registry
