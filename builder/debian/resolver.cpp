// The resolver is a depth-first search with chronological backtracking over an agenda of
// obligations (relation groups that must hold).
//
// The agenda starts with the priority set (Essential/required/important packages, by sorted
// name) and then the requests, in order. Processing is breadth-first: the obligation at the
// head is taken; if a chosen or installed package already satisfies one of its
// alternatives it is done (this is how "prefer what is already chosen" works). Otherwise the
// candidates are listed in preference order: alternatives in the order written; within an
// alternative, first packages whose name clashes with nothing chosen, then real packages of
// that name before providers, packages that fit every versioned constraint seen so far on
// their name, pinned versions, then providers by Priority (required first) and name,
// newest version first, native architecture before foreign. One candidate is chosen
// directly; several make a choice point. Choosing a package checks it against the chosen
// and installed ones (one instance per name unless Multi-Arch: same with equal versions,
// Conflicts and Breaks in both directions, through Provides too, never against itself)
// and appends its Pre-Depends, Depends and (if asked) Recommends to the agenda.
//
// All state changes are recorded on a trail; a choice point remembers the trail length and
// the agenda position, and on failure undoes back to them and tries the next candidate.
// When every candidate fails, the failure of the first (most preferred) one is reported,
// so the error describes what the preferred solution ran into. A Recommends choice point
// has one more option, skipping it.
//
// Backjumping keeps failures from exploring every combination of unrelated choices: a
// failure carries the chosen packages it depends on (the chains that pulled the packages
// in conflict, or the package with the unsatisfiable relation). When a candidate's branch
// fails for a reason that does not involve that candidate, the other candidates cannot
// fix it, so the choice point fails at once with that failure; when all candidates fail,
// the choice point's failure involves the union of theirs (minus the candidates) plus the
// chain of the package that needed the relation. This can miss a solution only through
// the ordering effects of a choice (preferring already chosen packages), never produce a
// wrong one. The number of choices is bounded (Request::max_steps); past it the search
// stops with the first failure found and says that it gave up.
//
// Only vectors are iterated; hash maps are used for lookups, so results never depend on
// hash order or addresses.
#include "builder/debian/resolver.hpp"

#include <algorithm>
#include <tuple>

#include "builder/debian/resolver_solver.hpp"

namespace strata::builder::debian {

using namespace resolver_detail;

Resolution resolve(const Universe& universe, const Request& request) {
  Solver solver(universe, request);
  return solver.run();
}

namespace resolver_detail {
namespace {

constexpr unsigned k_max_depth = 20000;  // choice points on the stack before giving up

template <typename T>
const T* find_list(const NameMap<T>& map, std::string_view name) {
  auto it = map.find(name);
  return it == map.end() ? nullptr : &it->second;
}

}  // namespace

Solver::Solver(const Universe& universe, const Request& request)
    : m_universe(universe),
      m_request(request),
      m_installed(request.installed),
      m_universe_size(universe.size()),
      m_arches{request.architecture, request.foreign_architectures} {
  if (request.architecture.empty()) {
    util::fail(util::ErrorKind::InvalidInput,
               "package resolution needs the target architecture (e.g. amd64)");
  }
  m_pos.assign(m_universe_size, -1);
  for (PackageId i = 0; i < m_installed.size(); ++i) {
    const Ref ref = static_cast<Ref>(m_universe_size + i);
    const Package& p = pkg(ref);
    m_by_name[p.name].push_back(ref);
    for (const auto& group : p.provides) {
      for (const Relation& rel : group) {
        m_by_provide[rel.name].push_back(ref);
      }
    }
    for (const auto& group : p.conflicts) {
      for (const Relation& rel : group) {
        m_conflicts_on[rel.name].push_back({ref, &rel, false});
      }
    }
    for (const auto& group : p.breaks) {
      for (const Relation& rel : group) {
        m_conflicts_on[rel.name].push_back({ref, &rel, true});
      }
    }
  }
}

const Package& Solver::pkg(Ref r) const {
  return installed(r) ? m_installed.package(static_cast<PackageId>(r - m_universe_size))
                      : m_universe.package(r);
}

const Version& Solver::ver(Ref r) const {
  return installed(r) ? m_installed.version(static_cast<PackageId>(r - m_universe_size))
                      : m_universe.version(r);
}

std::string_view Solver::arch_of(Ref r) const { return m_arches.effective(pkg(r).architecture); }

const Version& Solver::relation_version(const Relation& rel) {
  if (auto it = m_relation_versions.find(&rel); it != m_relation_versions.end()) {
    return it->second;
  }
  try {
    return m_relation_versions.emplace(&rel, Version::parse(rel.version)).first->second;
  } catch (const util::Error& e) {
    util::fail(util::ErrorKind::InvalidInput,
               "relation '" + format_relation(rel) + "': " + e.what());
  }
}

bool Solver::satisfies(Ref candidate, const Relation& rel, std::string_view depender_arch,
                       RelKind kind) {
  const Package& p = pkg(candidate);
  if (!arch_satisfies(m_arches, depender_arch, rel, p, kind)) {
    return false;
  }
  if (p.name == rel.name &&
      (rel.op == RelOp::None ||
       op_satisfies(compare_versions(ver(candidate), relation_version(rel)), rel.op))) {
    return true;
  }
  // Debian policy 7.5: an unversioned Provides satisfies only unversioned relations; a
  // versioned one ("= v") satisfies a versioned relation when v does.
  for (const auto& group : p.provides) {
    for (const Relation& provided : group) {
      if (provided.name != rel.name) {
        continue;
      }
      if (rel.op == RelOp::None) {
        return true;
      }
      if (provided.op == RelOp::Eq && !provided.version.empty() &&
          op_satisfies(compare_versions(relation_version(provided), relation_version(rel)),
                       rel.op)) {
        return true;
      }
    }
  }
  return false;
}

bool Solver::satisfied_now(const Obligation& ob) {
  const std::string_view darch =
      ob.depender == k_no_ref ? std::string_view(m_arches.native) : arch_of(ob.depender);
  for (const Relation& rel : *ob.group) {
    for (const auto* list : {find_list(m_by_name, rel.name), find_list(m_by_provide, rel.name)}) {
      if (list == nullptr) {
        continue;
      }
      for (Ref r : *list) {
        if (satisfies(r, rel, darch, RelKind::Depends)) {
          return true;
        }
      }
    }
  }
  return false;
}

bool Solver::pinned(Ref r) const {
  if (m_request.pins.empty()) {
    return false;
  }
  const Package& p = pkg(r);
  for (const std::string& key : {p.name + ":" + p.architecture, p.name}) {
    if (auto it = m_request.pins.find(key); it != m_request.pins.end()) {
      return it->second == p.version;
    }
  }
  return false;
}

bool Solver::fits_constraints(Ref r) {
  const auto* list = find_list(m_constraints, pkg(r).name);
  if (list == nullptr) {
    return true;
  }
  for (const Constraint& c : *list) {
    if (!op_satisfies(compare_versions(ver(r), relation_version(*c.rel)), c.rel->op)) {
      return false;
    }
  }
  return true;
}

bool Solver::coinstallable(Ref existing, Ref candidate) const {
  const Package& a = pkg(existing);
  const Package& b = pkg(candidate);
  return a.multi_arch == MultiArch::Same && b.multi_arch == MultiArch::Same &&
         arch_of(existing) != arch_of(candidate) &&
         compare_versions(ver(existing), ver(candidate)) == 0;
}

std::vector<Ref> Solver::candidates(const Obligation& ob) {
  const std::string_view darch =
      ob.depender == k_no_ref ? std::string_view(m_arches.native) : arch_of(ob.depender);
  // Sort key: incompatible with a chosen same-name package, provider (vs real), misses a
  // constraint, not pinned, Priority rank, foreign architecture, index in the universe
  // list (name, then newest version first).
  using Key = std::tuple<bool, bool, bool, bool, int, bool, std::size_t, Ref>;
  std::vector<Ref> out;
  std::vector<Key> part;
  for (const Relation& rel : *ob.group) {
    part.clear();
    auto consider = [&](Ref r, bool provider, std::size_t index) {
      const Package& p = pkg(r);
      if (!m_arches.installable(p.architecture) || !satisfies(r, rel, darch, RelKind::Depends)) {
        return;
      }
      bool clash = false;
      if (const auto* same = find_list(m_by_name, p.name)) {
        for (Ref e : *same) {
          clash = clash || (e != r && !coinstallable(e, r));
        }
      }
      part.emplace_back(clash, provider, !fits_constraints(r), !pinned(r),
                        provider ? priority_rank(p.priority) : 0,
                        arch_of(r) != m_arches.native, index, r);
    };
    const auto versions = m_universe.versions_of(rel.name);
    for (std::size_t i = 0; i < versions.size(); ++i) {
      consider(versions[i], false, i);
    }
    const auto providers = m_universe.providers_of(rel.name);
    for (std::size_t i = 0; i < providers.size(); ++i) {
      if (pkg(providers[i].id).name != rel.name) {
        consider(providers[i].id, true, i);
      }
    }
    std::sort(part.begin(), part.end());
    for (const Key& key : part) {
      const Ref r = std::get<7>(key);
      if (std::find(out.begin(), out.end(), r) == out.end()) {
        out.push_back(r);
      }
    }
  }
  return out;
}

std::optional<Failure> Solver::search(unsigned depth) {
  if (depth > k_max_depth) {
    m_exhausted = true;
  }
  if (m_exhausted) {
    return gave_up();
  }
  while (m_head < m_agenda.size()) {
    const Obligation ob = m_agenda[m_head++];  // a copy: the agenda may grow
    if (satisfied_now(ob)) {
      continue;
    }
    const std::vector<Ref> cands = candidates(ob);
    const bool optional = ob.kind == ReasonKind::Recommends;
    if (cands.empty()) {
      if (optional) {
        continue;
      }
      return unsatisfiable(ob);
    }
    if (cands.size() == 1 && !optional) {
      if (auto failure = choose(cands.front(), ob)) {
        return failure;
      }
      continue;
    }
    const Mark m = mark();
    std::optional<Failure> first;
    std::vector<Ref> involved;  // what the failed branches depended on, their choice aside
    bool skip = optional;
    for (Ref c : cands) {
      auto failure = choose(c, ob);
      if (!failure) {
        failure = search(depth + 1);
        if (!failure) {
          return std::nullopt;
        }
      }
      undo_to(m);
      const bool depends_on_c =
          std::find(failure->involved.begin(), failure->involved.end(), c) !=
          failure->involved.end();
      for (Ref r : failure->involved) {
        if (r != c) {
          involved.push_back(r);
        }
      }
      if (!first) {
        first = std::move(failure);
      } else if (failure->exhausted) {
        first->exhausted = true;
      }
      if (first->exhausted || !depends_on_c) {
        // Backjump: the failure happens whatever is chosen here, skipping included.
        skip = false;
        break;
      }
    }
    if (skip) {
      continue;  // skip this Recommends and go on with the rest of the agenda
    }
    if (ob.depender != k_no_ref) {
      add_chain(ob.depender, involved);
    }
    std::sort(involved.begin(), involved.end());
    involved.erase(std::unique(involved.begin(), involved.end()), involved.end());
    first->involved = std::move(involved);
    return first;
  }
  return std::nullopt;
}

std::optional<Failure> Solver::choose(Ref r, const Obligation& ob) {
  if (++m_steps > m_request.max_steps) {
    m_exhausted = true;
    return gave_up();
  }
  const Package& p = pkg(r);
  if (const auto* same = find_list(m_by_name, p.name)) {
    for (Ref e : *same) {
      if (e != r && !coinstallable(e, r)) {
        return same_name(e, r, ob);
      }
    }
  }
  // Conflicts/Breaks of chosen and installed packages that hit r. A package never
  // conflicts with itself, nor with other architectures of itself.
  auto hit_by_others = [&](std::string_view name) -> std::optional<Failure> {
    if (const auto* list = find_list(m_conflicts_on, name)) {
      for (const ConflictEntry& entry : *list) {
        if (pkg(entry.owner).name != p.name &&
            satisfies(r, *entry.rel, arch_of(entry.owner), RelKind::Conflicts)) {
          return conflict(entry.owner, *entry.rel, entry.is_break, r, r, ob);
        }
      }
    }
    return std::nullopt;
  };
  if (auto failure = hit_by_others(p.name)) {
    return failure;
  }
  for (const auto& group : p.provides) {
    for (const Relation& provided : group) {
      if (auto failure = hit_by_others(provided.name)) {
        return failure;
      }
    }
  }
  // r's own Conflicts/Breaks against chosen and installed packages.
  for (const RelationList* field : {&p.conflicts, &p.breaks}) {
    for (const auto& group : *field) {
      for (const Relation& rel : group) {
        for (const auto* list :
             {find_list(m_by_name, rel.name), find_list(m_by_provide, rel.name)}) {
          if (list == nullptr) {
            continue;
          }
          for (Ref e : *list) {
            if (pkg(e).name != p.name && satisfies(e, rel, arch_of(r), RelKind::Conflicts)) {
              return conflict(r, rel, field == &p.breaks, e, r, ob);
            }
          }
        }
      }
    }
  }
  add(r, ob);
  return std::nullopt;
}

void Solver::add(Ref r, const Obligation& ob) {
  const Package& p = pkg(r);
  m_pos[r] = static_cast<std::int32_t>(m_chosen.size());
  m_chosen.push_back(Choice{r, ob});
  m_trail.push_back({UndoKind::Choice, nullptr});
  auto push_ref = [&](std::vector<Ref>& list) {
    list.push_back(r);
    m_trail.push_back({UndoKind::RefList, &list});
  };
  push_ref(m_by_name[p.name]);
  for (const auto& group : p.provides) {
    for (const Relation& provided : group) {
      push_ref(m_by_provide[provided.name]);
    }
  }
  for (const RelationList* field : {&p.conflicts, &p.breaks}) {
    for (const auto& group : *field) {
      for (const Relation& rel : group) {
        auto& list = m_conflicts_on[rel.name];
        list.push_back({r, &rel, field == &p.breaks});
        m_trail.push_back({UndoKind::ConflictList, &list});
      }
    }
  }
  auto enqueue = [&](const RelationList& field, ReasonKind kind) {
    for (const auto& group : field) {
      if (group.empty()) {
        continue;
      }
      m_agenda.push_back(Obligation{r, &group, kind, 0});
      if (kind != ReasonKind::Recommends && group.size() == 1 && group.front().op != RelOp::None) {
        auto& list = m_constraints[group.front().name];
        list.push_back({r, &group.front()});
        m_trail.push_back({UndoKind::ConstraintList, &list});
      }
    }
  };
  enqueue(p.pre_depends, ReasonKind::PreDepends);
  enqueue(p.depends, ReasonKind::Depends);
  if (m_request.with_recommends) {
    enqueue(p.recommends, ReasonKind::Recommends);
  }
}

void Solver::undo_to(const Mark& m) {
  while (m_trail.size() > m.trail) {
    const Undo u = m_trail.back();
    m_trail.pop_back();
    switch (u.kind) {
      case UndoKind::RefList:
        static_cast<std::vector<Ref>*>(u.list)->pop_back();
        break;
      case UndoKind::ConflictList:
        static_cast<std::vector<ConflictEntry>*>(u.list)->pop_back();
        break;
      case UndoKind::ConstraintList:
        static_cast<std::vector<Constraint>*>(u.list)->pop_back();
        break;
      case UndoKind::Choice:
        m_pos[m_chosen.back().ref] = -1;
        m_chosen.pop_back();
        break;
    }
  }
  m_agenda.resize(m.agenda);
  m_head = m.head;
}

void Solver::add_roots() {
  auto add_root = [&](Relation rel, std::string label, ReasonKind kind) {
    Root& root = m_roots.emplace_back();
    root.group.push_back(std::move(rel));
    root.label = std::move(label);
    root.kind = kind;
    const auto index = static_cast<std::uint32_t>(m_roots.size() - 1);
    m_agenda.push_back(Obligation{k_no_ref, &root.group, kind, index});
    if (root.group.front().op != RelOp::None) {
      m_constraints[root.group.front().name].push_back({k_no_ref, &root.group.front()});
    }
  };
  if (m_request.priorities != PrioritySet::None) {
    for (const std::string& name : m_universe.names()) {
      // The newest native (or "all") version decides whether the name is in the set.
      for (PackageId id : m_universe.versions_of(name)) {
        const Package& p = m_universe.package(id);
        if (m_arches.effective(p.architecture) != m_arches.native) {
          continue;
        }
        std::string label;
        if (p.essential) {
          label = "Essential: yes";
        } else if (p.priority == "required" ||
                   (p.priority == "important" &&
                    m_request.priorities == PrioritySet::Important)) {
          label = "Priority: " + p.priority;
        }
        if (!label.empty()) {
          add_root(Relation{name, "", RelOp::None, ""}, std::move(label), ReasonKind::Priority);
        }
        break;
      }
    }
  }
  for (const std::string& text : m_request.packages) {
    add_root(parse_request(text), text, ReasonKind::Requested);
  }
}

Resolution Solver::run() {
  add_roots();
  if (auto failure = search(0)) {
    std::string message = std::move(failure->message);
    if (m_exhausted) {
      message += " (the search gave up after " + std::to_string(m_steps) +
                 " choices; pin versions in the request or raise its step limit)";
    }
    util::fail(failure->kind, message);
  }
  return result();
}

}  // namespace resolver_detail
}  // namespace strata::builder::debian
