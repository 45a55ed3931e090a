// The resolver's failure messages (with the chain of packages that led to a failure) and
// the construction of the Resolution from the search state.
#include <algorithm>

#include "builder/debian/resolver_solver.hpp"

namespace strata::builder::debian::resolver_detail {
namespace {

constexpr std::size_t k_max_listed = 10;  // "available:" entries shown in a message

}  // namespace

std::string Solver::short_name(Ref r) const {
  const Package& p = pkg(r);
  if (arch_of(r) == m_arches.native) {
    return p.name;
  }
  return p.name + ":" + p.architecture;
}

std::string Solver::display(Ref r) const { return short_name(r) + " " + pkg(r).version; }

std::string Solver::chain(Ref r) const {
  std::vector<std::string> names;
  Ref cur = r;
  while (cur != k_no_ref && !installed(cur) && m_pos[cur] >= 0 &&
         names.size() <= m_chosen.size()) {
    const Choice& c = m_chosen[static_cast<std::size_t>(m_pos[cur])];
    names.push_back(short_name(cur));
    if (c.why.depender == k_no_ref) {
      if (c.why.kind == ReasonKind::Priority) {
        names.back() += " (" + m_roots[c.why.root].label + ")";
      }
      break;
    }
    cur = c.why.depender;
  }
  std::string out;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    out += out.empty() ? "" : " -> ";
    out += *it;
  }
  return out;
}

void Solver::add_chain(Ref r, std::vector<Ref>& out) const {
  std::size_t guard = 0;
  while (r != k_no_ref && !installed(r) && m_pos[r] >= 0 && guard++ <= m_chosen.size()) {
    out.push_back(r);
    r = m_chosen[static_cast<std::size_t>(m_pos[r])].why.depender;
  }
}

Failure Solver::gave_up() const {
  Failure f{util::ErrorKind::Conflict, "no solution was found", {}, true};
  return f;
}

std::string Solver::origin(Ref r) const {
  if (installed(r)) {
    return short_name(r) + " is installed in a lower layer";
  }
  return short_name(r) + " was pulled by: " + chain(r);
}

std::string Solver::origin_new(Ref r, const Obligation& ob) const {
  if (ob.depender == k_no_ref) {
    const Root& root = m_roots[ob.root];
    if (root.kind == ReasonKind::Priority) {
      return short_name(r) + " is in the priority set (" + root.label + ")";
    }
    return short_name(r) + " was requested as '" + root.label + "'";
  }
  return short_name(r) + " was pulled by: " + chain(ob.depender) + " -> " + short_name(r) +
         " (" + std::string(reason_kind_name(ob.kind)) + ": " + format_group(*ob.group) + ")";
}

std::string Solver::needed_by(const Obligation& ob) const {
  if (ob.depender == k_no_ref) {
    const Root& root = m_roots[ob.root];
    if (root.kind == ReasonKind::Priority) {
      return "needed by the priority set (" + root.label + ")";
    }
    return "(requested)";
  }
  return "needed by " + display(ob.depender) + " (pulled by: " + chain(ob.depender) + ")";
}

Failure Solver::unsatisfiable(const Obligation& ob) {
  const std::string darch =
      ob.depender == k_no_ref ? m_arches.native : std::string(arch_of(ob.depender));
  std::vector<std::string> available;
  for (const Relation& rel : *ob.group) {
    for (int source = 0; source < 2; ++source) {
      const Universe& u = source == 0 ? m_universe : m_installed;
      const Ref offset = source == 0 ? 0 : static_cast<Ref>(m_universe_size);
      for (PackageId id : u.versions_of(rel.name)) {
        const Ref r = offset + id;
        std::string entry = display(r);
        if (installed(r)) {
          entry += " (installed)";
        } else if (!m_arches.installable(pkg(r).architecture)) {
          entry += " (architecture " + pkg(r).architecture + " is not enabled)";
        } else if (!arch_satisfies(m_arches, darch, rel, pkg(r), RelKind::Depends)) {
          entry += " (its architecture or Multi-Arch does not fit)";
        }
        available.push_back(std::move(entry));
      }
      for (const Provider& prov : u.providers_of(rel.name)) {
        const Ref r = offset + prov.id;
        if (pkg(r).name == rel.name) {
          continue;
        }
        const Relation& provided = u.provide(prov);
        std::string entry = display(r) + " provides " + format_relation(provided);
        if (rel.op != RelOp::None && provided.op == RelOp::None) {
          entry += " (unversioned, cannot satisfy a versioned relation)";
        }
        available.push_back(std::move(entry));
      }
    }
  }
  std::string message = "no package satisfies '" + format_group(*ob.group) + "' " + needed_by(ob);
  Failure f;
  add_chain(ob.depender, f.involved);
  if (available.empty()) {
    f.kind = util::ErrorKind::NotFound;
    f.message = message + "; no package or provider of that name exists in the configured archives";
    return f;
  }
  message += "; available: ";
  for (std::size_t i = 0; i < available.size() && i < k_max_listed; ++i) {
    message += (i == 0 ? "" : ", ") + available[i];
  }
  if (available.size() > k_max_listed) {
    message += ", ... (" + std::to_string(available.size() - k_max_listed) + " more)";
  }
  f.message = std::move(message);
  return f;
}

Failure Solver::involving(Failure f, Ref existing, Ref new_ref, const Obligation& ob) const {
  add_chain(existing, f.involved);
  add_chain(ob.depender, f.involved);
  f.involved.push_back(new_ref);
  return f;
}

Failure Solver::conflict(Ref owner, const Relation& rel, bool is_break, Ref target, Ref new_ref,
                         const Obligation& ob) const {
  const Ref existing = owner == new_ref ? target : owner;
  std::string message = "cannot install both " + display(existing) + " and " + display(new_ref) +
                        ": " + short_name(owner) + (is_break ? " breaks " : " conflicts with ") +
                        format_relation(rel) + "; " + origin(existing) + "; " +
                        origin_new(new_ref, ob);
  return involving(Failure{util::ErrorKind::Conflict, message, {}, false}, existing, new_ref, ob);
}

Failure Solver::same_name(Ref existing, Ref new_ref, const Obligation& ob) const {
  const bool same = pkg(existing).multi_arch == MultiArch::Same &&
                    pkg(new_ref).multi_arch == MultiArch::Same;
  std::string message = "cannot install both " + display(existing) + " and " + display(new_ref) +
                        ": " +
                        (same ? "Multi-Arch: same instances of " + pkg(new_ref).name +
                                    " must have the same version"
                              : "only one version of " + pkg(new_ref).name +
                                    " can be installed") +
                        "; " + origin(existing) + "; " + origin_new(new_ref, ob);
  return involving(Failure{util::ErrorKind::Conflict, message, {}, false}, existing, new_ref, ob);
}

Resolution Solver::result() {
  Resolution res;
  res.packages.reserve(m_chosen.size());
  for (const Choice& c : m_chosen) {
    const Package& p = pkg(c.ref);
    ChosenPackage cp{p.name, p.version, p.architecture, p, Reason{}};
    cp.reason.kind = c.why.kind;
    if (c.why.depender == k_no_ref) {
      cp.reason.relation = m_roots[c.why.root].label;
    } else {
      const Package& parent = pkg(c.why.depender);
      cp.reason.parent = parent.name;
      cp.reason.parent_version = parent.version;
      cp.reason.parent_architecture = parent.architecture;
      cp.reason.relation = format_group(*c.why.group);
    }
    res.packages.push_back(std::move(cp));
  }
  std::sort(res.packages.begin(), res.packages.end(),
            [](const ChosenPackage& a, const ChosenPackage& b) {
              return std::tie(a.name, a.architecture) < std::tie(b.name, b.architecture);
            });

  for (const DuplicatePackage& d : m_universe.duplicates()) {
    res.notes.push_back("duplicate package " + d.name + " " + d.version + " (" +
                        d.architecture + ") from " + d.dropped_archive +
                        " ignored; the one from " + d.kept_archive + " is used");
  }
  // Requests that only lower layers satisfy.
  for (const Root& root : m_roots) {
    if (root.kind != ReasonKind::Requested) {
      continue;
    }
    bool by_chosen = false;
    for (const Choice& c : m_chosen) {
      by_chosen = by_chosen || satisfies(c.ref, root.group.front(), m_arches.native,
                                         RelKind::Depends);
    }
    if (!by_chosen) {
      res.notes.push_back("request '" + root.label + "' is satisfied by a lower layer");
    }
  }
  if (m_request.with_recommends) {
    for (const Choice& c : m_chosen) {
      for (const auto& group : pkg(c.ref).recommends) {
        if (!group.empty() && !satisfied_now(Obligation{c.ref, &group, ReasonKind::Recommends, 0})) {
          res.notes.push_back("Recommends '" + format_group(group) + "' of " + display(c.ref) +
                              " is not installed: it cannot be satisfied together with the rest");
        }
      }
    }
  }
  std::sort(res.notes.begin(), res.notes.end());
  res.notes.erase(std::unique(res.notes.begin(), res.notes.end()), res.notes.end());
  return res;
}

}  // namespace strata::builder::debian::resolver_detail
