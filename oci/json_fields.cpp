#include "oci/json_fields.hpp"

namespace strata::oci::json_detail {
namespace {

const char* type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_float: return "a fractional number";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    default: return "an unsupported value";
  }
}

[[noreturn]] void wrong_type(const Ctx& ctx, const std::string& path, const char* want,
                             const Json& got) {
  ctx.fail(path, std::string("expected ") + want + ", got " + type_name(got));
}

}  // namespace

void Ctx::fail(const std::string& path, const std::string& problem, util::ErrorKind kind) const {
  util::fail(kind, m_prefix + ": " + (path.empty() ? "" : path + ": ") + problem);
}

Json parse_object(std::string_view text, const Ctx& ctx) {
  Json j;
  try {
    j = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    util::fail(util::ErrorKind::InvalidInput, ctx.prefix() + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) {
    wrong_type(ctx, "", "a JSON object", j);
  }
  return j;
}

std::string field(const std::string& base, std::string_view key) {
  return base.empty() ? std::string(key) : base + "." + std::string(key);
}

std::string element(const std::string& base, std::size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

const Json* member(const Json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

std::string opt_string(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  const Json* v = member(obj, key);
  if (v == nullptr) {
    return {};
  }
  if (!v->is_string()) {
    wrong_type(ctx, field(path, key), "a string", *v);
  }
  return v->get<std::string>();
}

std::string req_string(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  if (member(obj, key) == nullptr) {
    ctx.fail(field(path, key), "missing (a string is required)");
  }
  return opt_string(ctx, obj, path, key);
}

std::vector<std::string> opt_string_array(const Ctx& ctx, const Json& obj,
                                          const std::string& path, const char* key) {
  std::vector<std::string> out;
  const Json* arr = opt_array(ctx, obj, path, key);
  if (arr == nullptr) {
    return out;
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const Json& v = (*arr)[i];
    if (!v.is_string()) {
      wrong_type(ctx, element(field(path, key), i), "a string", v);
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::map<std::string, std::string> opt_string_map(const Ctx& ctx, const Json& obj,
                                                  const std::string& path, const char* key) {
  std::map<std::string, std::string> out;
  const Json* o = opt_object(ctx, obj, path, key);
  if (o == nullptr) {
    return out;
  }
  for (const auto& [k, v] : o->items()) {
    if (!v.is_string()) {
      wrong_type(ctx, field(field(path, key), k), "a string", v);
    }
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

std::vector<std::string> opt_key_set(const Ctx& ctx, const Json& obj, const std::string& path,
                                     const char* key) {
  std::vector<std::string> out;
  const Json* o = opt_object(ctx, obj, path, key);
  if (o == nullptr) {
    return out;
  }
  for (const auto& [k, v] : o->items()) {
    if (!v.is_object() && !v.is_null()) {
      wrong_type(ctx, field(field(path, key), k), "an object", v);
    }
    out.push_back(k);
  }
  return out;
}

std::int64_t req_int(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  const Json* v = member(obj, key);
  if (v == nullptr) {
    ctx.fail(field(path, key), "missing (an integer is required)");
  }
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) {
      ctx.fail(field(path, key), "integer out of range");
    }
    return static_cast<std::int64_t>(u);
  }
  if (!v->is_number_integer()) {
    wrong_type(ctx, field(path, key), "an integer", *v);
  }
  return v->get<std::int64_t>();
}

bool opt_bool(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  const Json* v = member(obj, key);
  if (v == nullptr) {
    return false;
  }
  if (!v->is_boolean()) {
    wrong_type(ctx, field(path, key), "a boolean", *v);
  }
  return v->get<bool>();
}

Digest req_digest(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  const std::string text = req_string(ctx, obj, path, key);
  try {
    return Digest::parse(text);
  } catch (const util::Error& e) {
    ctx.fail(field(path, key), e.what());
  }
}

const Json* opt_object(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  const Json* v = member(obj, key);
  if (v != nullptr && !v->is_object()) {
    wrong_type(ctx, field(path, key), "an object", *v);
  }
  return v;
}

const Json& req_object(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  const Json* v = opt_object(ctx, obj, path, key);
  if (v == nullptr) {
    ctx.fail(field(path, key), "missing (an object is required)");
  }
  return *v;
}

const Json* opt_array(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  const Json* v = member(obj, key);
  if (v != nullptr && !v->is_array()) {
    wrong_type(ctx, field(path, key), "an array", *v);
  }
  return v;
}

const Json& req_array(const Ctx& ctx, const Json& obj, const std::string& path, const char* key) {
  const Json* v = opt_array(ctx, obj, path, key);
  if (v == nullptr) {
    ctx.fail(field(path, key), "missing (an array is required)");
  }
  return *v;
}

std::string dump(const Json& j, std::string_view what) {
  try {
    return j.dump();
  } catch (const Json::exception& e) {
    util::fail(util::ErrorKind::InvalidInput,
               "cannot serialise " + std::string(what) + ": " + e.what() +
                   " (every string must be valid UTF-8)");
  }
}

}  // namespace strata::oci::json_detail
