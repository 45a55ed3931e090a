// Relation field parsing. The grammar, after splitting on ',' (groups) and '|'
// (alternatives), is for each alternative:
//
//   name[:archqual] [(op version)] ['[' [!]arch ... ']'] ['<' [!]profile ... '>']...
//
// An arch list is either all positive (the relation applies on the listed arches) or all
// negated (it applies everywhere else). Several <...> profile lists form an OR of ANDs:
// the relation applies when at least one list has all its terms true, a term "p" being
// true when p is active and "!p" when it is not.
#include "builder/debian/relations.hpp"

#include <optional>
#include <vector>

#include "builder/debian/version.hpp"
#include "util/error.hpp"

namespace strata::builder::debian {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// Walks one alternative's text, reporting errors with the whole field for context.
class Cursor {
 public:
  Cursor(std::string_view text, std::string_view item, const RelationContext& ctx)
      : m_text(text), m_item(item), m_ctx(ctx) {}

  void skip_ws() {
    while (m_pos < m_text.size() && is_ws(m_text[m_pos])) {
      ++m_pos;
    }
  }
  [[nodiscard]] bool done() const { return m_pos >= m_text.size(); }
  [[nodiscard]] char peek() const { return done() ? '\0' : m_text[m_pos]; }
  bool eat(char c) {
    if (peek() == c) {
      ++m_pos;
      return true;
    }
    return false;
  }
  template <typename Pred>
  std::string_view take_while(Pred pred) {
    const std::size_t start = m_pos;
    while (!done() && pred(m_text[m_pos])) {
      ++m_pos;
    }
    return m_text.substr(start, m_pos - start);
  }

  [[noreturn]] void fail(const std::string& what) const {
    std::string msg;
    if (!m_ctx.where.empty()) {
      msg = m_ctx.where + ": ";
    }
    std::string shown(m_item.substr(0, 120));
    for (char& c : shown) {
      if (c == '\n' || c == '\t' || c == '\r') {
        c = ' ';
      }
    }
    util::fail(util::ErrorKind::InvalidInput,
               msg + "invalid relation '" + shown + "': " + what +
                   " (expected 'name[:arch] [(op version)] [[arch ...]] [<profile ...>]')");
  }

 private:
  std::string_view m_text;
  std::string_view m_item;
  const RelationContext& m_ctx;
  std::size_t m_pos = 0;
};

// Splits on a separator, keeping empty pieces.
std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) {
      return out;
    }
    text.remove_prefix(at + 1);
  }
}

bool all_ws(std::string_view s) {
  for (char c : s) {
    if (!is_ws(c)) {
      return false;
    }
  }
  return true;
}

std::string parse_name(Cursor& cur) {
  const std::string_view raw = cur.take_while(
      [](char c) { return is_alnum(c) || c == '+' || c == '-' || c == '.' || c == '_'; });
  if (raw.empty()) {
    cur.fail("missing package name");
  }
  if (!is_alnum(raw.front())) {
    cur.fail("package name must start with a letter or digit");
  }
  std::string name(raw);
  for (char& c : name) {  // dpkg treats package names case-insensitively
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return name;
}

RelOp parse_op(Cursor& cur) {
  if (cur.eat('<')) {
    if (cur.eat('<')) {
      return RelOp::Less;
    }
    cur.eat('=');
    return RelOp::LessEq;  // "<" alone is the obsolete spelling of "<="
  }
  if (cur.eat('>')) {
    if (cur.eat('>')) {
      return RelOp::Greater;
    }
    cur.eat('=');
    return RelOp::GreaterEq;  // ">" alone is the obsolete spelling of ">="
  }
  if (cur.eat('=')) {
    return RelOp::Eq;
  }
  cur.fail("missing or unknown operator; use <<, <=, =, >= or >>");
}

// "[amd64 !i386]": whether the relation applies to ctx.target_arch.
bool parse_arch_list(Cursor& cur, const RelationContext& ctx) {
  bool any_positive = false;
  bool any_negated = false;
  bool matched = false;
  for (;;) {
    cur.skip_ws();
    if (cur.eat(']')) {
      break;
    }
    if (cur.done()) {
      cur.fail("unterminated architecture list, missing ']'");
    }
    const bool negated = cur.eat('!');
    const std::string_view arch =
        cur.take_while([](char c) { return is_lower_alnum(c) || c == '-'; });
    if (arch.empty()) {
      cur.fail("invalid architecture in '[...]' list");
    }
    (negated ? any_negated : any_positive) = true;
    if (!ctx.target_arch.empty() && arch_matches(ctx.target_arch, arch)) {
      matched = true;
    }
  }
  if (any_positive && any_negated) {
    cur.fail("an architecture list must not mix negated and plain entries");
  }
  if (!any_positive && !any_negated) {
    cur.fail("empty architecture list");
  }
  if (ctx.target_arch.empty()) {
    return true;
  }
  return any_positive ? matched : !matched;
}

// One "<a !b>" list: whether all its terms hold.
bool parse_profile_list(Cursor& cur, const RelationContext& ctx) {
  bool all_true = true;
  bool any = false;
  for (;;) {
    cur.skip_ws();
    if (cur.eat('>')) {
      break;
    }
    if (cur.done()) {
      cur.fail("unterminated build profile list, missing '>'");
    }
    const bool negated = cur.eat('!');
    const std::string_view name = cur.take_while(
        [](char c) { return is_lower_alnum(c) || c == '-' || c == '.' || c == '+'; });
    if (name.empty()) {
      cur.fail("invalid build profile name in '<...>' list");
    }
    any = true;
    const bool active = ctx.profiles.count(std::string(name)) != 0;
    if (active == negated) {
      all_true = false;
    }
  }
  if (!any) {
    cur.fail("empty build profile list");
  }
  return all_true;
}

// Parses one alternative; nullopt when arch list or profiles exclude it.
std::optional<Relation> parse_one(std::string_view item, const RelationContext& ctx) {
  Cursor cur(item, item, ctx);
  cur.skip_ws();
  Relation rel;
  rel.name = parse_name(cur);
  if (cur.eat(':')) {
    const std::string_view qual =
        cur.take_while([](char c) { return is_lower_alnum(c) || c == '-'; });
    if (qual.empty()) {
      cur.fail("empty architecture qualifier after ':'");
    }
    rel.arch_qualifier = std::string(qual);
  }
  cur.skip_ws();
  if (cur.eat('(')) {
    cur.skip_ws();
    rel.op = parse_op(cur);
    cur.skip_ws();
    const std::string_view version =
        cur.take_while([](char c) { return !is_ws(c) && c != ')'; });
    if (version.empty()) {
      cur.fail("missing version after the operator");
    }
    try {
      (void)Version::parse(version);
    } catch (const util::Error& e) {
      cur.fail(e.what());
    }
    rel.version = std::string(version);
    cur.skip_ws();
    if (!cur.eat(')')) {
      cur.fail("missing ')' after the version");
    }
    cur.skip_ws();
  }
  bool applies = true;
  if (cur.eat('[')) {
    applies = parse_arch_list(cur, ctx);
    cur.skip_ws();
  }
  bool have_profiles = false;
  bool profiles_hold = false;
  while (cur.eat('<')) {
    have_profiles = true;
    if (parse_profile_list(cur, ctx)) {
      profiles_hold = true;
    }
    cur.skip_ws();
  }
  if (!cur.done()) {
    cur.fail(std::string("unexpected '") + cur.peek() + "'");
  }
  if (!applies || (have_profiles && !profiles_hold)) {
    return std::nullopt;
  }
  return rel;
}

}  // namespace

RelationList parse_relations(std::string_view text, const RelationContext& ctx) {
  RelationList out;
  for (std::string_view group_text : split(text, ',')) {
    if (all_ws(group_text)) {
      // Empty groups (a trailing comma, ", ,") carry nothing; dpkg-dev tolerates them.
      continue;
    }
    std::vector<Relation> group;
    for (std::string_view item : split(group_text, '|')) {
      if (all_ws(item)) {
        Cursor(item, group_text, ctx).fail("empty alternative");
      }
      if (auto rel = parse_one(item, ctx)) {
        group.push_back(std::move(*rel));
      }
    }
    if (!group.empty()) {
      out.push_back(std::move(group));
    }
  }
  return out;
}

RelationList parse_provides(std::string_view text, const RelationContext& ctx) {
  RelationList out = parse_relations(text, ctx);
  for (const auto& group : out) {
    if (group.size() != 1) {
      Cursor(text, text, ctx).fail("alternatives ('|') are not allowed in Provides");
    }
    if (group.front().op != RelOp::None && group.front().op != RelOp::Eq) {
      Cursor(text, to_string(group.front()), ctx)
          .fail("only '=' versions are allowed in Provides");
    }
  }
  return out;
}

namespace {

// The (os, cpu) pair of a Debian architecture, enough for "os-any" and "any-cpu".
std::pair<std::string_view, std::string_view> arch_tuple(std::string_view arch) {
  std::string_view os = "linux";
  std::string_view cpu = arch;
  if (const auto dash = arch.find('-'); dash != std::string_view::npos) {
    os = arch.substr(0, dash);
    cpu = arch.substr(dash + 1);
  }
  if (cpu == "armel" || cpu == "armhf") {
    cpu = "arm";
  } else if (cpu == "x32") {
    cpu = "amd64";
  }
  return {os, cpu};
}

}  // namespace

bool arch_matches(std::string_view arch, std::string_view pattern) {
  if (pattern == "any") {
    return arch != "all";
  }
  if (pattern == arch) {
    return true;
  }
  const auto dash = pattern.find('-');
  if (dash == std::string_view::npos || arch == "all") {
    return false;
  }
  const auto [os, cpu] = arch_tuple(arch);
  const std::string_view p_os = pattern.substr(0, dash);
  const std::string_view p_cpu = pattern.substr(dash + 1);
  return (p_os == "any" || p_os == os) && (p_cpu == "any" || p_cpu == cpu);
}

std::string_view rel_op_str(RelOp op) noexcept {
  switch (op) {
    case RelOp::Less: return "<<";
    case RelOp::LessEq: return "<=";
    case RelOp::Eq: return "=";
    case RelOp::GreaterEq: return ">=";
    case RelOp::Greater: return ">>";
    case RelOp::None: break;
  }
  return "";
}

bool version_satisfies(std::string_view candidate, RelOp op, std::string_view version) {
  if (op == RelOp::None) {
    return true;
  }
  const int c = compare_versions(candidate, version);
  switch (op) {
    case RelOp::Less: return c < 0;
    case RelOp::LessEq: return c <= 0;
    case RelOp::Eq: return c == 0;
    case RelOp::GreaterEq: return c >= 0;
    case RelOp::Greater: return c > 0;
    case RelOp::None: break;
  }
  return true;
}

std::string to_string(const Relation& relation) {
  std::string out = relation.name;
  if (!relation.arch_qualifier.empty()) {
    out += ":" + relation.arch_qualifier;
  }
  if (relation.op != RelOp::None) {
    out += " (" + std::string(rel_op_str(relation.op)) + " " + relation.version + ")";
  }
  return out;
}

std::string to_string(const RelationList& relations) {
  std::string out;
  for (const auto& group : relations) {
    if (!out.empty()) {
      out += ", ";
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
      out += (i == 0 ? "" : " | ") + to_string(group[i]);
    }
  }
  return out;
}

}  // namespace strata::builder::debian
