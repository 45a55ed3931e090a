// Human units for sizes and durations on the command line and in reports.
//
// Sizes: a non-negative number (decimals allowed) with an optional unit, case-insensitive:
// B; K, M, G, T, P and KiB, MiB, GiB, TiB, PiB are binary (1K = 1024, as du and df
// print them); KB, MB, GB, TB, PB are decimal (1KB = 1000, as disk vendors and docker
// use them). Durations: a sequence of number+unit pairs, units s, m, h, d, w ("1h30m",
// "30d"); a bare number is seconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strata::util {

/// Parses a size ("10G", "1.5GiB", "500MB", "4096"). Throws InvalidInput naming `what`
/// (e.g. "--max-size") and listing the accepted units. Thread-safe.
std::uint64_t parse_size(std::string_view text, std::string_view what);

/// Parses a duration into seconds ("30d", "10m", "1h30m", "90"). Throws InvalidInput
/// naming `what`. Thread-safe.
std::int64_t parse_duration(std::string_view text, std::string_view what);

/// "0 B", "999 B", "1.0 KiB", "12.3 MiB", "4.00 GiB": binary units, 3 significant digits.
std::string format_size(std::uint64_t bytes);

}  // namespace strata::util
