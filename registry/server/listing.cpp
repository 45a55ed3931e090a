// Listing endpoints: tags (end-8a/8b), catalog and referrers (end-12a/12b).
//
// Tags and repositories are returned in bytewise order (Go's sort.Strings) and paged with
// `n` and `last`; when more entries follow, a Link header with rel="next" names the next
// page. Without `n` at most k_max_page entries are returned (with a Link when more exist).
// Referrers of an unknown repository or digest are an empty index (200): the spec forbids
// 404 from a registry that supports the API.
#include "oci/media_types.hpp"
#include "registry/server/context.hpp"

namespace strata::registry {

namespace {

constexpr std::size_t k_max_page = 10000;

/// Fetches one page with `fetch(after, limit)` and sets the Link header when more follow.
template <typename Fetch>
std::vector<std::string> page(Call& call, const std::string& base, Fetch fetch) {
  const auto requested = parse_page_size(call.query);
  const std::size_t limit = std::min(requested.value_or(k_max_page), k_max_page);
  const std::string last = call.query.get("last").value_or("");
  if (limit == 0) {
    return {};
  }
  std::vector<std::string> items = fetch(last, limit + 1);
  if (items.size() > limit) {
    items.resize(limit);
    call.res.set_header("Link", "<" + base + "?n=" + std::to_string(limit) +
                                    "&last=" + url_encode(items.back()) + ">; rel=\"next\"");
  }
  return items;
}

}  // namespace

void list_tags(Context& ctx, Call& call, const std::string& repo) {
  check_repository(repo);
  if (!ctx.meta.repository_exists(repo)) {
    throw ApiError(404, ErrorCode::NameUnknown, "repository " + repo + " is not known",
                   {{"name", repo}});
  }
  const auto tags = page(call, "/v2/" + repo + "/tags/list",
                         [&](const std::string& after, std::size_t limit) {
                           return ctx.meta.list_tags(repo, after, limit);
                         });
  send_json(call.res, 200, nlohmann::json{{"name", repo}, {"tags", tags}}.dump());
}

void list_catalog(Context& ctx, Call& call) {
  const auto repos = page(call, "/v2/_catalog", [&](const std::string& after, std::size_t limit) {
    return ctx.meta.list_repositories(after, limit);
  });
  send_json(call.res, 200, nlohmann::json{{"repositories", repos}}.dump());
}

void list_referrers(Context& ctx, Call& call, const std::string& repo,
                    const std::string& digest_text) {
  check_repository(repo);
  const oci::Digest digest = parse_digest_param(digest_text, false);
  std::optional<std::string> filter = call.query.get("artifactType");
  if (filter && filter->empty()) {
    filter.reset();
  }
  nlohmann::json manifests = nlohmann::json::array();
  for (const auto& r : ctx.meta.list_referrers(repo, digest.str(), filter)) {
    nlohmann::json d = {{"mediaType", r.media_type}, {"size", r.size}, {"digest", r.digest}};
    if (!r.artifact_type.empty()) {
      d["artifactType"] = r.artifact_type;
    }
    if (!r.annotations_json.empty()) {
      d["annotations"] = nlohmann::json::parse(r.annotations_json);
    }
    manifests.push_back(std::move(d));
  }
  if (filter) {
    call.res.set_header("OCI-Filters-Applied", "artifactType");
  }
  const nlohmann::json index = {{"schemaVersion", 2},
                                {"mediaType", oci::media::k_oci_index},
                                {"manifests", manifests}};
  send_json(call.res, 200, index.dump(), std::string(oci::media::k_oci_index));
}

}  // namespace strata::registry
