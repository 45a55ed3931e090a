// Debian version numbers, compared exactly as dpkg compares them (deb-version(7)):
// [epoch:]upstream_version[-debian_revision]; '~' sorts before everything, even the end
// of the string; letters sort before non-letters; digit runs compare numerically.
#pragma once

#include <string>
#include <string_view>

namespace strata::builder::debian {

struct Version {
  unsigned long epoch = 0;
  std::string upstream;
  std::string revision;  // empty when the version has no '-'

  /// Parses and validates; throws util::Error(InvalidInput) naming the text.
  static Version parse(std::string_view text);
  [[nodiscard]] std::string str() const;
};

/// <0, 0, >0 like dpkg --compare-versions. Both must be valid versions.
int compare_versions(const Version& a, const Version& b);
/// Convenience overload parsing both strings.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace strata::builder::debian
