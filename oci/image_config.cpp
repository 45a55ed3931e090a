// JSON for image configs (image-spec config.md), which Docker's
// application/vnd.docker.container.image.v1+json shares. Fields strata does not model
// (Docker's container_config, Healthcheck, ...) are ignored when reading, as the spec asks.
#include <string>

#include "oci/image.hpp"
#include "oci/json_fields.hpp"

namespace strata::oci {
namespace {

using json_detail::Ctx;
using json_detail::element;
using json_detail::field;
using json_detail::Json;

Json key_set_json(const std::vector<std::string>& keys) {
  Json j = Json::object();
  for (const auto& k : keys) {
    j[k] = Json::object();
  }
  return j;
}

Json runtime_json(const RuntimeConfig& c) {
  Json j = Json::object();
  if (!c.user.empty()) {
    j["User"] = c.user;
  }
  if (!c.exposed_ports.empty()) {
    j["ExposedPorts"] = key_set_json(c.exposed_ports);
  }
  if (!c.env.empty()) {
    j["Env"] = c.env;
  }
  if (c.has_entrypoint || !c.entrypoint.empty()) {
    j["Entrypoint"] = c.entrypoint;
  }
  if (c.has_cmd || !c.cmd.empty()) {
    j["Cmd"] = c.cmd;
  }
  if (!c.volumes.empty()) {
    j["Volumes"] = key_set_json(c.volumes);
  }
  if (!c.working_dir.empty()) {
    j["WorkingDir"] = c.working_dir;
  }
  if (!c.labels.empty()) {
    j["Labels"] = c.labels;
  }
  if (!c.stop_signal.empty()) {
    j["StopSignal"] = c.stop_signal;
  }
  return j;
}

RuntimeConfig parse_runtime(const Ctx& ctx, const Json& obj) {
  const std::string p = "config";
  RuntimeConfig c;
  c.user = json_detail::opt_string(ctx, obj, p, "User");
  c.exposed_ports = json_detail::opt_key_set(ctx, obj, p, "ExposedPorts");
  c.env = json_detail::opt_string_array(ctx, obj, p, "Env");
  c.has_entrypoint = json_detail::member(obj, "Entrypoint") != nullptr;
  c.entrypoint = json_detail::opt_string_array(ctx, obj, p, "Entrypoint");
  c.has_cmd = json_detail::member(obj, "Cmd") != nullptr;
  c.cmd = json_detail::opt_string_array(ctx, obj, p, "Cmd");
  c.volumes = json_detail::opt_key_set(ctx, obj, p, "Volumes");
  c.working_dir = json_detail::opt_string(ctx, obj, p, "WorkingDir");
  c.labels = json_detail::opt_string_map(ctx, obj, p, "Labels");
  c.stop_signal = json_detail::opt_string(ctx, obj, p, "StopSignal");
  return c;
}

}  // namespace

std::string to_json(const ImageConfig& config) {
  Json j = Json::object();
  if (!config.created.empty()) {
    j["created"] = config.created;
  }
  if (!config.author.empty()) {
    j["author"] = config.author;
  }
  j["architecture"] = config.architecture;
  j["os"] = config.os;
  if (!config.variant.empty()) {
    j["variant"] = config.variant;
  }
  Json runtime = runtime_json(config.config);
  if (!runtime.empty()) {
    j["config"] = std::move(runtime);
  }
  Json diff_ids = Json::array();
  for (const auto& d : config.diff_ids) {
    diff_ids.push_back(d.str());
  }
  j["rootfs"] = Json{{"type", "layers"}, {"diff_ids", std::move(diff_ids)}};
  if (!config.history.empty()) {
    Json history = Json::array();
    for (const auto& h : config.history) {
      Json e = Json::object();
      if (!h.created.empty()) {
        e["created"] = h.created;
      }
      if (!h.created_by.empty()) {
        e["created_by"] = h.created_by;
      }
      if (!h.author.empty()) {
        e["author"] = h.author;
      }
      if (!h.comment.empty()) {
        e["comment"] = h.comment;
      }
      if (h.empty_layer) {
        e["empty_layer"] = true;
      }
      history.push_back(std::move(e));
    }
    j["history"] = std::move(history);
  }
  return json_detail::dump(j, "image config");
}

ImageConfig parse_image_config(std::string_view json, std::string_view what) {
  const Ctx ctx("image config", what);
  const Json j = json_detail::parse_object(json, ctx);
  ImageConfig c;
  c.created = json_detail::opt_string(ctx, j, "", "created");
  c.author = json_detail::opt_string(ctx, j, "", "author");
  c.architecture = json_detail::req_string(ctx, j, "", "architecture");
  c.os = json_detail::req_string(ctx, j, "", "os");
  c.variant = json_detail::opt_string(ctx, j, "", "variant");
  if (const Json* rc = json_detail::opt_object(ctx, j, "", "config")) {
    c.config = parse_runtime(ctx, *rc);
  }
  const Json& rootfs = json_detail::req_object(ctx, j, "", "rootfs");
  const std::string type = json_detail::req_string(ctx, rootfs, "rootfs", "type");
  if (type != "layers") {
    ctx.fail("rootfs.type", "must be \"layers\", got \"" + type + "\"");
  }
  const Json& ids = json_detail::req_array(ctx, rootfs, "rootfs", "diff_ids");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string path = element("rootfs.diff_ids", i);
    if (!ids[i].is_string()) {
      ctx.fail(path, "expected a digest string");
    }
    try {
      c.diff_ids.push_back(Digest::parse(ids[i].get<std::string>()));
    } catch (const util::Error& e) {
      ctx.fail(path, e.what());
    }
  }
  if (const Json* history = json_detail::opt_array(ctx, j, "", "history")) {
    for (std::size_t i = 0; i < history->size(); ++i) {
      const Json& e = (*history)[i];
      const std::string path = element("history", i);
      if (!e.is_object()) {
        ctx.fail(path, "expected an object");
      }
      HistoryEntry h;
      h.created = json_detail::opt_string(ctx, e, path, "created");
      h.created_by = json_detail::opt_string(ctx, e, path, "created_by");
      h.author = json_detail::opt_string(ctx, e, path, "author");
      h.comment = json_detail::opt_string(ctx, e, path, "comment");
      h.empty_layer = json_detail::opt_bool(ctx, e, path, "empty_layer");
      c.history.push_back(std::move(h));
    }
  }
  return c;
}

}  // namespace strata::oci
