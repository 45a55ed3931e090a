// Image reference parsing, following distribution/reference's ParseNormalizedNamed (the
// implementation docker, podman and skopeo share) so that a reference names the same image
// in strata as in those tools:
//   reference := name [":" tag] ["@" digest]
//   name      := [domain "/"] path
//   domain    := host [":" port]        host := domain-name | "[" IPv6 "]"
//   path      := component ("/" component)*, component := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
// The first path component is a registry host only when it contains '.' or ':' or is
// "localhost"; otherwise the registry is docker.io. (distribution/reference also takes an
// upper-case first component such as "MyOrg/env" for a host; strata rejects it as an
// upper-case repository instead, which is the mistake the user made far more often.) On docker.io a one-component repository gets "library/", and
// index.docker.io / registry-1.docker.io are spelled docker.io.
#include "oci/reference.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace strata::oci {
namespace {

constexpr std::string_view k_docker_hub = "docker.io";
constexpr std::size_t k_name_max = 255;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// component := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool valid_path_component(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto alnum_run = [&]() {
    const std::size_t start = i;
    while (i < n && is_lower_alnum(s[i])) {
      ++i;
    }
    return i > start;
  };
  if (!alnum_run()) {
    return false;
  }
  while (i < n) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < n && s[i] == '_') {
        ++i;
      }
    } else if (s[i] == '-') {
      while (i < n && s[i] == '-') {
        ++i;
      }
    } else {
      return false;
    }
    if (!alnum_run()) {
      return false;
    }
  }
  return true;
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool valid_domain_name(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  std::size_t start = 0;
  for (;;) {
    const auto dot = s.find('.', start);
    const std::string_view comp =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (comp.empty() || !is_alnum(comp.front()) || !is_alnum(comp.back()) ||
        !std::all_of(comp.begin(), comp.end(), [](char c) { return is_alnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

bool valid_port(std::string_view s) {
  return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), is_digit);
}

bool valid_domain(std::string_view s) {
  std::string_view host = s;
  std::string_view port;
  bool has_port = false;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) {
      return false;
    }
    const std::string_view ip = s.substr(1, close - 1);
    if (ip.empty() || !std::all_of(ip.begin(), ip.end(), [](char c) {
          return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                 c == '.';
        })) {
      return false;
    }
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return false;
      }
      return valid_port(rest.substr(1));
    }
    return true;
  }
  if (const auto colon = s.rfind(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    has_port = true;
  }
  return valid_domain_name(host) && (!has_port || valid_port(port));
}

bool is_64_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return is_digit(c) || (c >= 'a' && c <= 'f');
         });
}

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  util::fail(util::ErrorKind::InvalidInput,
             "invalid image reference '" + std::string(text.substr(0, 300)) + "': " + why);
}

}  // namespace

bool is_valid_repository(std::string_view name) noexcept {
  if (name.empty() || name.size() > k_name_max) {
    return false;
  }
  std::size_t start = 0;
  for (;;) {
    const auto slash = name.find('/', start);
    const std::string_view comp = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!valid_path_component(comp)) {
      return false;
    }
    if (slash == std::string_view::npos) {
      return true;
    }
    start = slash + 1;
  }
}

bool is_valid_tag(std::string_view tag) noexcept {
  auto word = [](char c) { return is_alnum(c) || c == '_'; };
  return !tag.empty() && tag.size() <= 128 && word(tag.front()) &&
         std::all_of(tag.begin(), tag.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

Reference Reference::parse(std::string_view text) {
  if (text.empty()) {
    bad(text, "it is empty; expected [REGISTRY/]REPOSITORY[:TAG][@DIGEST]");
  }
  if (is_64_hex(text)) {
    bad(text, "a bare 64-digit hex string looks like an image ID, not a name; "
              "use REPOSITORY@sha256:HEX to pin a digest");
  }
  Reference ref;
  std::string_view name = text;
  if (const auto at = text.find('@'); at != std::string_view::npos) {
    name = text.substr(0, at);
    const std::string_view digest = text.substr(at + 1);
    auto parsed = Digest::try_parse(digest);
    if (!parsed) {
      bad(text, "'" + std::string(digest.substr(0, 200)) +
                    "' is not a valid digest (expected sha256:<64 lower-case hex digits>)");
    }
    ref.digest = std::move(*parsed);
  }
  const auto last_slash = name.rfind('/');
  const auto colon = name.find(':', last_slash == std::string_view::npos ? 0 : last_slash + 1);
  if (colon != std::string_view::npos) {
    const std::string_view tag = name.substr(colon + 1);
    if (!is_valid_tag(tag)) {
      bad(text, "tag '" + std::string(tag.substr(0, 200)) +
                    "' is invalid (1-128 characters of letters, digits, '_', '.', '-', not "
                    "starting with '.' or '-')");
    }
    ref.tag = std::string(tag);
    name = name.substr(0, colon);
  }
  if (name.empty()) {
    bad(text, "the repository name is missing");
  }
  std::string_view path = name;
  const auto slash = name.find('/');
  if (slash != std::string_view::npos) {
    const std::string_view first = name.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost") {
      if (!valid_domain(first)) {
        bad(text, "registry '" + std::string(first) + "' is not a valid host[:port]");
      }
      ref.registry = std::string(first);
      path = name.substr(slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io" ||
      ref.registry == "registry-1.docker.io") {
    ref.registry = k_docker_hub;
  }
  ref.repository = std::string(path);
  if (ref.registry == k_docker_hub && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  if (has_upper(ref.repository)) {
    bad(text, "repository name '" + ref.repository + "' must be lowercase");
  }
  if (!is_valid_repository(ref.repository) && ref.repository.size() <= k_name_max) {
    bad(text, "repository name '" + ref.repository +
                  "' is invalid: '/'-separated components of lower-case letters and digits, "
                  "joined inside a component by '.', '_', '__' or dashes");
  }
  if (ref.registry.size() + 1 + ref.repository.size() > k_name_max) {
    bad(text, "the name is longer than " + std::to_string(k_name_max) + " characters");
  }
  if (ref.tag.empty() && !ref.digest) {
    ref.tag = "latest";
  }
  return ref;
}

std::string Reference::str() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) {
    s += ":" + tag;
  }
  if (digest) {
    s += "@" + digest->str();
  }
  return s;
}

std::string Reference::identifier() const { return !tag.empty() ? tag : (digest ? digest->str() : ""); }

}  // namespace strata::oci
