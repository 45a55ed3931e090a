// The store's SQLite schema and its migrations (see schema.cpp for the tables).
#pragma once

#include <cstdint>

namespace strata::cache {

class Database;

/// The schema version this build of strata writes (PRAGMA user_version).
inline constexpr std::int64_t k_schema_version = 2;

/// Brings the database to k_schema_version, applying each missing migration in one
/// IMMEDIATE transaction (safe when several processes open a new store at once). Throws
/// Unsupported when the file was written by a newer strata. Not thread-safe (guard the
/// connection).
void migrate(Database& db);

}  // namespace strata::cache
