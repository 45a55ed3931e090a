// Request routing: maps /v2/... paths to handlers and turns exceptions into spec errors.
//
// Repository names contain slashes, so paths are matched from the right:
//   <name>/tags/list, <name>/manifests/<ref>, <name>/blobs/uploads/[<uuid>],
//   <name>/blobs/<digest>, <name>/referrers/<digest>, plus /v2/ and /v2/_catalog.
// The upload form wins over the blob form, so "<name>/blobs/uploads/<x>" is always an
// upload session (as in distribution). Unknown paths are 404, wrong methods 405.
//
// With auth on, each handler runs only after AuthGate::authorize() allowed the actions it
// needs: GET/HEAD pull, manifest PUT and every upload request push, DELETE of manifests and
// blobs delete; a mount also needs pull on `from`. GET /v2/token is the token endpoint.
#include <iostream>

#include "registry/server/auth_gate.hpp"
#include "registry/server/context.hpp"
#include "registry/server/routes.hpp"
#include "util/error.hpp"

namespace strata::registry {

namespace {

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto slash = s.find('/', start);
    out.emplace_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) {
      return out;
    }
    start = slash + 1;
  }
}

std::string join(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) {
      out.push_back('/');
    }
    out += parts[i];
  }
  return out;
}

[[noreturn]] void not_allowed(const std::string& method, const std::string& path) {
  throw ApiError(405, ErrorCode::Unsupported,
                 "method " + method + " is not supported on " + path.substr(0, 300));
}

[[noreturn]] void not_found(const std::string& path) {
  throw ApiError(404, ErrorCode::NameUnknown,
                 "no registry API endpoint at " + path.substr(0, 300) +
                     " (see the OCI distribution spec for the /v2/ paths)");
}

void dispatch(Context& ctx, AuthGate* auth, Call& call) {
  const std::string& method = call.req.method;
  const bool get = method == "GET" || method == "HEAD";
  const std::string& path = call.req.path;
  // Lets the request through when the caller may take `actions` on `repo` (auth on).
  const auto gate = [&](const std::string& repo, unsigned actions) {
    if (auth != nullptr) {
      check_repository(repo);
      return auth->authorize(ctx, call, {Need{repo, actions}});
    }
    return Identity{};
  };
  if (path == "/v2/" || path == "/v2") {
    if (!get) {
      not_allowed(method, path);
    }
    if (auth != nullptr) {
      auth->authorize(ctx, call, {});
    }
    send_json(call.res, 200, "{}");
    return;
  }
  if (path.rfind("/v2/", 0) != 0) {
    not_found(path);
  }
  const std::string rest = path.substr(4);
  if (rest == "token" && auth != nullptr) {
    if (!get) {
      not_allowed(method, path);
    }
    auth->issue_token(ctx, call);
    return;
  }
  if (rest == "_catalog") {
    if (!get) {
      not_allowed(method, path);
    }
    if (auth != nullptr) {
      auth->list_catalog(ctx, call);
    } else {
      list_catalog(ctx, call);
    }
    return;
  }
  const auto parts = split(rest);
  const std::size_t n = parts.size();
  if (n >= 3 && parts[n - 2] == "tags" && parts[n - 1] == "list") {
    if (!get) {
      not_allowed(method, path);
    }
    gate(join(parts, n - 2), k_action_pull);
    list_tags(ctx, call, join(parts, n - 2));
    return;
  }
  const bool upload_with_id = n >= 4 && parts[n - 3] == "blobs" && parts[n - 2] == "uploads";
  const bool upload_start = n >= 3 && parts[n - 2] == "blobs" && parts[n - 1] == "uploads";
  if ((upload_with_id && parts[n - 1].empty()) || upload_start) {
    const std::string repo = join(parts, upload_start ? n - 2 : n - 3);
    if (method != "POST") {
      not_allowed(method, path);
    }
    const auto mount = call.query.get("mount");
    const auto from = call.query.get("from");
    if (auth != nullptr && mount && from) {
      check_repository(repo);
      check_repository(*from);
      auth->authorize(ctx, call, {Need{repo, k_action_push}, Need{*from, k_action_pull}});
    } else {
      const Identity who = gate(repo, k_action_push);
      if (auth != nullptr && mount) {
        auth->choose_mount_source(ctx, call, who, repo, *mount);
      }
    }
    start_upload(ctx, call, repo);
    return;
  }
  if (upload_with_id) {
    const std::string repo = join(parts, n - 3);
    const std::string& uuid = parts[n - 1];
    gate(repo, k_action_push);  // every request on an upload session is part of a push
    if (get) {
      get_upload(ctx, call, repo, uuid);
    } else if (method == "PATCH") {
      patch_upload(ctx, call, repo, uuid);
    } else if (method == "PUT") {
      put_upload(ctx, call, repo, uuid);
    } else if (method == "DELETE") {
      delete_upload(ctx, call, repo, uuid);
    } else {
      not_allowed(method, path);
    }
    return;
  }
  if (n >= 3 && !parts[n - 1].empty()) {
    const std::string repo = join(parts, n - 2);
    const std::string& kind = parts[n - 2];
    const std::string& ref = parts[n - 1];
    const auto needed = [&]() -> unsigned {
      if (get) {
        return k_action_pull;
      }
      if (method == "DELETE") {
        return k_action_delete;
      }
      return method == "PUT" && kind == "manifests" ? k_action_push : 0;
    }();
    if (needed != 0 && (kind == "manifests" || kind == "blobs" || kind == "referrers")) {
      gate(repo, needed);
    }
    if (kind == "manifests") {
      if (get) {
        get_manifest(ctx, call, repo, ref);
      } else if (method == "PUT") {
        put_manifest(ctx, call, repo, ref);
      } else if (method == "DELETE") {
        delete_manifest(ctx, call, repo, ref);
      } else {
        not_allowed(method, path);
      }
      return;
    }
    if (kind == "blobs") {
      if (get) {
        get_blob(ctx, call, repo, ref);
      } else if (method == "DELETE") {
        delete_blob(ctx, call, repo, ref);
      } else {
        not_allowed(method, path);
      }
      return;
    }
    if (kind == "referrers") {
      if (!get) {
        not_allowed(method, path);
      }
      list_referrers(ctx, call, repo, ref);
      return;
    }
  }
  not_found(path);
}

/// Drops the headers a handler set before failing (e.g. Docker-Content-Digest), keeping
/// "Connection: close" when the body could not be consumed and the API version header.
void reset_headers(httplib::Response& res) {
  const bool close = res.get_header_value("Connection") == "close";
  const std::string api_version = res.get_header_value("Docker-Distribution-API-Version");
  res.headers.clear();
  if (close) {
    res.set_header("Connection", "close");
  }
  if (!api_version.empty()) {
    res.set_header("Docker-Distribution-API-Version", api_version);
  }
}

void send_error(Call& call, int status, ErrorCode code, const std::string& message,
                const nlohmann::json& detail) {
  call.discard_body();
  call.res.status = status;
  call.res.set_content(error_body(code, message, detail), "application/json");
}

}  // namespace

void handle_request(Context& ctx, AuthGate* auth, const httplib::Request& req,
                    httplib::Response& res, const httplib::ContentReader* reader) {
  Call call{req, res, reader, Query(req.target)};
  try {
    dispatch(ctx, auth, call);
    call.discard_body();
  } catch (const ApiError& e) {
    reset_headers(res);
    for (const auto& [name, value] : e.headers()) {
      res.set_header(name, value);
    }
    send_error(call, e.status(), e.code(), e.what(), e.detail());
  } catch (const util::Error& e) {
    reset_headers(res);
    const auto [status, code] = map_error(e.kind(), ErrorCode::Unsupported);
    if (status >= 500) {
      std::cerr << "strata registry: " << req.method << " " << req.path << ": " << e.what()
                << '\n';
    }
    send_error(call, status, code, e.what(), nullptr);
  } catch (const std::exception& e) {
    reset_headers(res);
    std::cerr << "strata registry: internal error on " << req.method << " " << req.path << ": "
              << e.what() << '\n';
    send_error(call, 500, ErrorCode::Unsupported, std::string("internal error: ") + e.what(),
               nullptr);
  }
}

}  // namespace strata::registry
