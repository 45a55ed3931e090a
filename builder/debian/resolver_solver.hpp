// Internal to the resolver: the search state and its undo trail (see resolver.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "builder/debian/resolver.hpp"
#include "builder/debian/resolver_match.hpp"
#include "builder/debian/universe.hpp"
#include "util/error.hpp"

namespace strata::builder::debian::resolver_detail {

/// A package reference: ids below universe.size() are universe packages, the rest are the
/// request's installed packages (offset by universe.size()).
using Ref = std::uint32_t;
inline constexpr Ref k_no_ref = UINT32_MAX;

/// Why a search branch failed: the error the user sees if no branch succeeds, and the
/// chosen packages the failure depends on (for backjumping; see resolver.cpp).
struct Failure {
  util::ErrorKind kind = util::ErrorKind::Conflict;
  std::string message;
  std::vector<Ref> involved;
  bool exhausted = false;  // the step or depth bound was hit
};

/// One search over one Request. Single use, not thread-safe; holds references to the
/// universe and request, which must outlive it.
class Solver {
 public:
  Solver(const Universe& universe, const Request& request);
  /// Runs the search; throws util::Error on failure.
  Resolution run();

 private:
  // A relation group some package (or the request) needs.
  struct Obligation {
    Ref depender = k_no_ref;  // k_no_ref: requested or priority
    const std::vector<Relation>* group = nullptr;
    ReasonKind kind = ReasonKind::Depends;
    std::uint32_t root = 0;  // index into m_roots when depender == k_no_ref
  };
  // A versioned single-alternative relation seen on a name, used to rank its candidates.
  struct Constraint {
    Ref depender = k_no_ref;
    const Relation* rel = nullptr;
  };
  // A Conflicts/Breaks entry of a chosen or installed package, indexed by target name.
  struct ConflictEntry {
    Ref owner = k_no_ref;
    const Relation* rel = nullptr;
    bool is_break = false;
  };
  // A chosen (not installed) package and the obligation that pulled it.
  struct Choice {
    Ref ref = k_no_ref;
    Obligation why;
  };
  // A requested or priority root: its relation and its label for messages.
  struct Root {
    std::vector<Relation> group;
    std::string label;
    ReasonKind kind = ReasonKind::Requested;
  };
  enum class UndoKind : std::uint8_t { RefList, ConflictList, ConstraintList, Choice };
  struct Undo {
    UndoKind kind;
    void* list;
  };
  struct Mark {
    std::size_t trail;
    std::size_t agenda;
    std::size_t head;
  };

  // Package access.
  [[nodiscard]] const Package& pkg(Ref r) const;
  [[nodiscard]] const Version& ver(Ref r) const;
  [[nodiscard]] bool installed(Ref r) const { return r >= m_universe_size; }
  [[nodiscard]] std::string_view arch_of(Ref r) const;
  [[nodiscard]] const Version& relation_version(const Relation& rel);

  // Matching.
  bool satisfies(Ref candidate, const Relation& rel, std::string_view depender_arch,
                 RelKind kind);
  bool satisfied_now(const Obligation& ob);
  std::vector<Ref> candidates(const Obligation& ob);
  bool pinned(Ref r) const;
  bool fits_constraints(Ref r);
  [[nodiscard]] bool coinstallable(Ref existing, Ref candidate) const;

  // Search.
  std::optional<Failure> search(unsigned depth);
  std::optional<Failure> choose(Ref r, const Obligation& ob);
  void add(Ref r, const Obligation& ob);
  [[nodiscard]] Mark mark() const { return {m_trail.size(), m_agenda.size(), m_head}; }
  void undo_to(const Mark& m);
  void add_roots();

  // Messages (resolver_messages.cpp).
  [[nodiscard]] std::string display(Ref r) const;
  [[nodiscard]] std::string short_name(Ref r) const;
  [[nodiscard]] std::string chain(Ref r) const;
  void add_chain(Ref r, std::vector<Ref>& out) const;
  [[nodiscard]] Failure gave_up() const;
  [[nodiscard]] std::string origin(Ref r) const;
  [[nodiscard]] std::string origin_new(Ref r, const Obligation& ob) const;
  [[nodiscard]] std::string needed_by(const Obligation& ob) const;
  Failure unsatisfiable(const Obligation& ob);
  Failure conflict(Ref owner, const Relation& rel, bool is_break, Ref target, Ref new_ref,
                   const Obligation& ob) const;
  Failure involving(Failure f, Ref existing, Ref new_ref, const Obligation& ob) const;
  Failure same_name(Ref existing, Ref new_ref, const Obligation& ob) const;
  Resolution result();

  const Universe& m_universe;
  const Request& m_request;
  Universe m_installed;
  std::size_t m_universe_size;
  Arches m_arches;
  std::deque<Root> m_roots;  // deque: obligations point into it

  std::vector<Obligation> m_agenda;
  std::size_t m_head = 0;
  std::vector<Choice> m_chosen;
  std::vector<std::int32_t> m_pos;  // per universe ref: index in m_chosen or -1
  NameMap<std::vector<Ref>> m_by_name;     // chosen + installed, per real name
  NameMap<std::vector<Ref>> m_by_provide;  // chosen + installed, per provided name
  NameMap<std::vector<ConflictEntry>> m_conflicts_on;
  NameMap<std::vector<Constraint>> m_constraints;
  std::vector<Undo> m_trail;
  std::unordered_map<const Relation*, Version> m_relation_versions;  // lookups only
  std::size_t m_steps = 0;
  bool m_exhausted = false;
};

}  // namespace strata::builder::debian::resolver_detail
