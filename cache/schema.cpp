// Versioned schema of strata.db. PRAGMA user_version holds the number of migrations
// applied; migration N (1-based) turns version N-1 into N. Migrations are append-only:
// never edit one that has shipped, add the next.
//
// Version 1:
//   blobs(digest TEXT PK        "sha256:<hex>", the file is blobs/<alg>/<hex>
//         size INTEGER          bytes
//         media_type TEXT       as first recorded ('' when unknown)
//         created INTEGER       Unix seconds when first stored
//         last_used INTEGER)    Unix seconds of the last write/use; GC orders by it
//   layers(key TEXT PK          hex sha256 build-cache key
//          diff_id TEXT         digest of the uncompressed tar
//          blob TEXT            digest of the stored (compressed) layer, a blobs.digest
//          size INTEGER, media_type TEXT, created_by TEXT (history text), created INTEGER)
//   tags(name TEXT PK, manifest TEXT (a blobs.digest), media_type TEXT, updated INTEGER)
// Version 2:
//   file_digests(path TEXT PK   absolute real path of a build-input file
//                dev, ino, size, mtime_ns, ctime_ns INTEGER   its stat(2) when hashed
//                sha256 TEXT    hex digest of its content)
//   A cache of input digests so that a no-op rebuild does not re-read every copied file;
//   see Store::load_file_digests.
// A layer row never outlives its blob row: every path that deletes a blob deletes the
// layer rows pointing at it in the same transaction (no FOREIGN KEY so that an upsert of a
// blob can never cascade).
#include "cache/schema.hpp"

#include <array>
#include <string>

#include "cache/database.hpp"
#include "util/error.hpp"

namespace strata::cache {

namespace {

constexpr std::array<const char*, k_schema_version> k_migrations = {
    // 1: initial schema
    R"sql(
CREATE TABLE blobs (
  digest     TEXT PRIMARY KEY NOT NULL,
  size       INTEGER NOT NULL,
  media_type TEXT NOT NULL DEFAULT '',
  created    INTEGER NOT NULL,
  last_used  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX blobs_by_last_used ON blobs(last_used);
CREATE TABLE layers (
  key        TEXT PRIMARY KEY NOT NULL,
  diff_id    TEXT NOT NULL,
  blob       TEXT NOT NULL,
  size       INTEGER NOT NULL,
  media_type TEXT NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  created    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX layers_by_blob ON layers(blob);
CREATE TABLE tags (
  name       TEXT PRIMARY KEY NOT NULL,
  manifest   TEXT NOT NULL,
  media_type TEXT NOT NULL,
  updated    INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: digests of build-input files keyed by their stat
    R"sql(
CREATE TABLE file_digests (
  path     TEXT PRIMARY KEY NOT NULL,
  dev      INTEGER NOT NULL,
  ino      INTEGER NOT NULL,
  size     INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  sha256   TEXT NOT NULL
) WITHOUT ROWID;
)sql",
};

}  // namespace

void migrate(Database& db) {
  // Cheap check first so that opening an up-to-date store takes no write lock.
  std::int64_t version = db.pragma_int("user_version");
  if (version == k_schema_version) {
    return;
  }
  Transaction txn(db);
  version = db.pragma_int("user_version");  // another process may have migrated meanwhile
  if (version > k_schema_version) {
    util::fail(util::ErrorKind::Unsupported,
               "store database " + db.path().string() + " has schema version " +
                   std::to_string(version) + " but this strata knows only up to " +
                   std::to_string(k_schema_version) + "; upgrade strata");
  }
  for (; version < k_schema_version; ++version) {
    db.exec(k_migrations[static_cast<std::size_t>(version)]);
  }
  db.exec("PRAGMA user_version = " + std::to_string(k_schema_version));
  txn.commit();
}

}  // namespace strata::cache
