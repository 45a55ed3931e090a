#include "builder/debian/resolver_match.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace strata::builder::debian::resolver_detail {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

[[noreturn]] void bad_request(std::string_view text, const std::string& why) {
  util::fail(util::ErrorKind::InvalidInput,
             "invalid package request '" + std::string(text) + "': " + why +
                 " (expected NAME, NAME:ARCH, NAME=VERSION or 'NAME (>= VERSION)')");
}

}  // namespace

bool Arches::installable(std::string_view arch) const {
  if (arch == native || arch == "all") {
    return true;
  }
  return std::find(foreign.begin(), foreign.end(), arch) != foreign.end();
}

bool arch_satisfies(const Arches& arches, std::string_view depender_arch, const Relation& rel,
                    const Package& candidate, RelKind kind) {
  std::string_view wanted;
  if (rel.arch_qualifier.empty()) {
    if (kind == RelKind::Conflicts || candidate.multi_arch == MultiArch::Foreign) {
      return true;
    }
    wanted = depender_arch;
  } else if (rel.arch_qualifier == "any") {
    return kind == RelKind::Conflicts || candidate.multi_arch == MultiArch::Allowed;
  } else if (rel.arch_qualifier == "native") {
    wanted = arches.native;
  } else {
    wanted = arches.effective(rel.arch_qualifier);
  }
  return arches.effective(candidate.architecture) == wanted;
}

bool op_satisfies(int cmp, RelOp op) noexcept {
  switch (op) {
    case RelOp::None:
      return true;
    case RelOp::Less:
      return cmp < 0;
    case RelOp::LessEq:
      return cmp <= 0;
    case RelOp::Eq:
      return cmp == 0;
    case RelOp::GreaterEq:
      return cmp >= 0;
    case RelOp::Greater:
      return cmp > 0;
  }
  return false;
}

std::string format_relation(const Relation& rel) {
  std::string out = rel.name;
  if (!rel.arch_qualifier.empty()) {
    out += ':';
    out += rel.arch_qualifier;
  }
  const char* op = nullptr;
  switch (rel.op) {
    case RelOp::None:
      break;
    case RelOp::Less:
      op = "<<";
      break;
    case RelOp::LessEq:
      op = "<=";
      break;
    case RelOp::Eq:
      op = "=";
      break;
    case RelOp::GreaterEq:
      op = ">=";
      break;
    case RelOp::Greater:
      op = ">>";
      break;
  }
  if (op != nullptr) {
    out += " (";
    out += op;
    out += ' ';
    out += rel.version;
    out += ')';
  }
  return out;
}

std::string format_group(const std::vector<Relation>& group) {
  std::string out;
  for (const Relation& rel : group) {
    if (!out.empty()) {
      out += " | ";
    }
    out += format_relation(rel);
  }
  return out;
}

Relation parse_request(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) {
    bad_request(text, "it is empty");
  }
  Relation rel;
  std::string_view version;
  if (const auto paren = s.find('('); paren != std::string_view::npos) {
    if (s.back() != ')') {
      bad_request(text, "missing ')'");
    }
    std::string_view inner = trim(s.substr(paren + 1, s.size() - paren - 2));
    s = trim(s.substr(0, paren));
    static constexpr std::pair<std::string_view, RelOp> k_ops[] = {
        {"<<", RelOp::Less},      {"<=", RelOp::LessEq}, {">>", RelOp::Greater},
        {">=", RelOp::GreaterEq}, {"=", RelOp::Eq},
    };
    for (const auto& [spelling, op] : k_ops) {
      if (inner.starts_with(spelling)) {
        rel.op = op;
        version = trim(inner.substr(spelling.size()));
        break;
      }
    }
    if (rel.op == RelOp::None) {
      bad_request(text, "unknown version operator (use <<, <=, =, >= or >>)");
    }
  } else if (const auto eq = s.find('='); eq != std::string_view::npos) {
    rel.op = RelOp::Eq;
    version = trim(s.substr(eq + 1));
    s = trim(s.substr(0, eq));
  }
  if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    rel.arch_qualifier = std::string(s.substr(colon + 1));
    s = s.substr(0, colon);
    if (rel.arch_qualifier.empty()) {
      bad_request(text, "empty architecture after ':'");
    }
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), valid_name_char)) {
    bad_request(text, "package names use only a-z, 0-9, '+', '-' and '.'");
  }
  rel.name = std::string(s);
  if (rel.op != RelOp::None) {
    if (version.empty()) {
      bad_request(text, "the version is missing");
    }
    try {
      (void)Version::parse(version);
    } catch (const util::Error& e) {
      bad_request(text, e.what());
    }
    rel.version = std::string(version);
  }
  return rel;
}

int priority_rank(std::string_view priority) noexcept {
  static constexpr std::string_view k_order[] = {"required", "important", "standard",
                                                 "optional", "extra"};
  for (int i = 0; i < 5; ++i) {
    if (priority == k_order[i]) {
      return i;
    }
  }
  return 5;
}

}  // namespace strata::builder::debian::resolver_detail
