// Manifest GET/HEAD/PUT/DELETE by tag or digest.
//
// A PUT reads the body (at most k_max_manifest_size bytes, else 413), validates it
// (manifest_check.hpp), checks that every referenced blob or child manifest is in the
// repository (subject excepted, as the spec requires), stores the exact bytes in the store
// under their digest and records manifest, tags and referrers entry in one transaction.
#include <charconv>

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
    const auto d = oci::Digest::try_parse(ref_digest);
    if (!ctx.meta.blob_linked(repo, ref_digest) || !d || !ctx.store.has_blob(*d)) {
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

  if (!ctx.store.has_blob(digest)) {
    auto writer = ctx.store.begin_blob(info.media_type, algorithm);
    writer.write(body);
    writer.commit(digest);
  }
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
