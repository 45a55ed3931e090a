// The SQLite wrapper: WAL, migrations, transactions, statement errors, lock timeouts.
#include <catch2/catch.hpp>
#include <chrono>

#include "cache/database.hpp"
#include "cache/schema.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace strata;
using cache::Database;
using cache::Transaction;

namespace {

util::ErrorKind kind_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const util::Error& e) {
    return e.kind();
  }
  FAIL("expected a strata::util::Error");
  return util::ErrorKind::Internal;
}

std::int64_t count_rows(Database& db, const std::string& table) {
  auto q = db.query("SELECT count(*) FROM " + table);
  REQUIRE(q.step());
  return q.integer(0);
}

}  // namespace

TEST_CASE("database opens in WAL mode and migrates to the current schema", "[cache][database]") {
  util::TempDir dir("db");
  Database db(dir.path() / "strata.db");
  {
    auto q = db.query("PRAGMA journal_mode");
    REQUIRE(q.step());
    CHECK(q.text(0) == "wal");
  }
  CHECK(db.pragma_int("user_version") == 0);
  cache::migrate(db);
  CHECK(db.pragma_int("user_version") == cache::k_schema_version);
  CHECK(count_rows(db, "blobs") == 0);
  CHECK(count_rows(db, "layers") == 0);
  CHECK(count_rows(db, "tags") == 0);
  cache::migrate(db);  // idempotent
  Database again(dir.path() / "strata.db");
  cache::migrate(again);
  CHECK(again.pragma_int("user_version") == cache::k_schema_version);
}

TEST_CASE("a database from a newer strata is refused", "[cache][database]") {
  util::TempDir dir("db");
  {
    Database db(dir.path() / "strata.db");
    db.exec("PRAGMA user_version = 999");
  }
  Database db(dir.path() / "strata.db");
  try {
    cache::migrate(db);
    FAIL("migrate accepted a newer schema");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Unsupported);
    CHECK_THAT(e.what(), Catch::Contains("999") && Catch::Contains("upgrade strata"));
  }
}

TEST_CASE("transactions commit explicitly and roll back on scope exit", "[cache][database]") {
  util::TempDir dir("db");
  Database db(dir.path() / "strata.db");
  db.exec("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)");
  {
    Transaction txn(db);
    db.query("INSERT INTO t VALUES(?1, ?2)").bind(1, "a").bind(2, 1).run();
    CHECK(db.in_transaction());
    // no commit: rolled back
  }
  CHECK_FALSE(db.in_transaction());
  CHECK(count_rows(db, "t") == 0);
  {
    Transaction txn(db);
    CHECK(db.query("INSERT INTO t VALUES(?1, ?2)").bind(1, "a").bind(2, 1).run() == 1);
    txn.commit();
  }
  CHECK(count_rows(db, "t") == 1);
  // Visible to a second connection.
  Database other(dir.path() / "strata.db");
  CHECK(count_rows(other, "t") == 1);
  // An exception inside the scope rolls back too.
  CHECK_THROWS([&] {
    Transaction txn(db);
    db.query("INSERT INTO t VALUES(?1, ?2)").bind(1, "b").bind(2, 2).run();
    throw std::runtime_error("boom");
  }());
  CHECK(count_rows(db, "t") == 1);
}

TEST_CASE("statement errors map to error kinds", "[cache][database]") {
  util::TempDir dir("db");
  Database db(dir.path() / "strata.db");
  db.exec("CREATE TABLE t(k TEXT PRIMARY KEY)");
  db.query("INSERT INTO t VALUES(?1)").bind(1, "x").run();
  CHECK(kind_of([&] { db.query("INSERT INTO t VALUES(?1)").bind(1, "x").run(); }) ==
        util::ErrorKind::Conflict);
  CHECK(kind_of([&] { db.query("SELECT nope FROM t"); }) == util::ErrorKind::Internal);
  // The statement cache survives a failed run: the same SQL works again.
  CHECK(db.query("INSERT INTO t VALUES(?1)").bind(1, "y").run() == 1);
  {
    auto q = db.query("SELECT k FROM t WHERE k = ?1");
    q.bind(1, "y");
    REQUIRE(q.step());
    CHECK(q.text(0) == "y");
    CHECK_FALSE(q.step());
  }
  auto q = db.query("SELECT k FROM t WHERE k = ?1");  // bindings were cleared
  CHECK_FALSE(q.step());
}

TEST_CASE("a writer waits for the lock and times out with a clear error", "[cache][database]") {
  util::TempDir dir("db");
  Database holder(dir.path() / "strata.db");
  holder.exec("CREATE TABLE t(k TEXT)");
  Database waiter(dir.path() / "strata.db", Database::Options{std::chrono::milliseconds(300)});
  Transaction held(holder);
  const auto start = std::chrono::steady_clock::now();
  try {
    Transaction txn(waiter);
    FAIL("took the write lock while another connection held it");
  } catch (const util::Error& e) {
    CHECK(e.kind() == util::ErrorKind::Timeout);
    CHECK_THAT(e.what(), Catch::Contains("strata.db") && Catch::Contains("locked"));
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= std::chrono::milliseconds(250));
  CHECK(waited < std::chrono::seconds(5));
  // Readers are not blocked by the writer in WAL mode.
  CHECK(count_rows(waiter, "t") == 0);
  held.commit();
  Transaction txn(waiter);
  txn.commit();
}

TEST_CASE("a garbage database file is reported as corruption", "[cache][database]") {
  util::TempDir dir("db");
  util::write_file_atomic(dir.path() / "strata.db", std::string(4096, 'x'));
  CHECK(kind_of([&] {
          Database db(dir.path() / "strata.db");
          cache::migrate(db);
        }) == util::ErrorKind::Corruption);
}
