// A small RAII wrapper over one SQLite connection: prepared statements that reset
// themselves, transactions as scoped objects, WAL mode and a busy timeout.
//
// Concurrency model: several processes may open the same database file. Readers never
// block in WAL mode; writers serialise on SQLite's single write lock. Every writer takes
// that lock up front with BEGIN IMMEDIATE (Transaction's default), so a transaction never
// has to upgrade a read snapshot to a write lock, which SQLite refuses with SQLITE_BUSY
// without waiting. Waiting for the lock is SQLite's busy handler (busy timeout, 30 s by
// default, with short sleeps); on top of it, statements run outside a transaction are retried a few
// times on SQLITE_BUSY for the cases the handler does not cover (WAL recovery, a stale snapshot).
// When the wait is over the caller gets ErrorKind::Timeout naming the database file.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace strata::cache {

class Database;

/// One prepared statement. Owned by the Database that prepared it (see Database::query);
/// not thread-safe (guard the whole connection).
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  /// Binds parameters by 1-based index. Text is copied by SQLite.
  void bind(int index, std::string_view text);
  void bind(int index, std::int64_t value);
  void bind_null(int index);
  /// Advances; returns true when a row is available, false at the end. Throws on error
  /// (Timeout when the database stayed locked, Conflict on a constraint, IO otherwise).
  bool step();
  /// Resets to run again and clears bindings; never throws.
  void reset() noexcept;

  [[nodiscard]] std::string column_text(int index) const;
  [[nodiscard]] std::int64_t column_int(int index) const;
  [[nodiscard]] bool column_is_null(int index) const;
  [[nodiscard]] const std::string& sql() const noexcept { return m_sql; }
  /// Rows changed by the connection's last INSERT/UPDATE/DELETE.
  [[nodiscard]] std::int64_t changes() const noexcept;

 private:
  Database& m_db;
  std::string m_sql;
  sqlite3_stmt* m_stmt = nullptr;  // owned, finalized in the destructor
  bool m_produced = false;         // a row was returned since the last reset
};

/// A scoped use of a cached prepared statement: resets it on construction and again on
/// destruction, so that a statement never keeps a read snapshot open after use (which
/// would block WAL checkpoints and make later writes fail). Move-only; not thread-safe.
class Query {
 public:
  explicit Query(Statement& statement) noexcept;
  Query(Query&& other) noexcept;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;
  ~Query();

  /// Chainable binding by 1-based index.
  Query& bind(int index, std::string_view text);
  Query& bind(int index, std::int64_t value);
  Query& bind(int index, std::uint64_t value);
  Query& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Query& bind_null(int index);
  /// See Statement::step.
  bool step();
  /// Runs to completion (for statements that return no rows); returns changes().
  std::int64_t run();
  [[nodiscard]] std::string text(int index) const { return m_stmt->column_text(index); }
  [[nodiscard]] std::int64_t integer(int index) const { return m_stmt->column_int(index); }
  [[nodiscard]] bool is_null(int index) const { return m_stmt->column_is_null(index); }

 private:
  Statement* m_stmt;
};

/// One SQLite connection. Opening creates the file if needed and switches it to WAL mode
/// with synchronous=NORMAL (committed transactions survive a process crash; a power loss
/// may lose the last ones but never corrupts the file). Not thread-safe: callers guard
/// the connection with one mutex (cache::Store does). Not copyable, not movable.
class Database {
 public:
  struct Options {
    std::chrono::milliseconds busy_timeout{30'000};
  };
  /// Opens `path`; throws IO/Timeout naming the file.
  explicit Database(std::filesystem::path path);
  Database(std::filesystem::path path, Options options);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  /// Runs one or more SQL statements that return no rows (DDL, PRAGMAs).
  void exec(std::string_view sql);
  /// A cached prepared statement for `sql` (prepared on first use), wrapped in a Query.
  Query query(const std::string& sql);
  /// Rows changed by the last INSERT/UPDATE/DELETE.
  [[nodiscard]] std::int64_t changes() const noexcept;
  /// Reads a single integer PRAGMA (e.g. "user_version").
  std::int64_t pragma_int(std::string_view name);
  /// True while a transaction is open on this connection.
  [[nodiscard]] bool in_transaction() const noexcept;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_path; }
  [[nodiscard]] sqlite3* handle() const noexcept { return m_db; }
  [[nodiscard]] const Options& options() const noexcept { return m_options; }

  /// Throws the strata error for SQLite result code `rc` with `what` as context.
  [[noreturn]] void fail(int rc, std::string_view what) const;

 private:
  std::filesystem::path m_path;
  Options m_options;
  sqlite3* m_db = nullptr;  // owned, closed in the destructor after the statements
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> m_statements;
  std::chrono::steady_clock::time_point m_busy_since;  // start of the current wait

  static int on_busy(void* self, int count) noexcept;
};

/// A transaction scope. Immediate (the default, for writers) takes the write lock at
/// BEGIN, waiting up to the busy timeout; Deferred is for consistent multi-statement
/// reads. commit() must be called explicitly; destruction without it rolls back and never
/// throws. Not thread-safe; must not outlive the Database.
class Transaction {
 public:
  enum class Mode { Deferred, Immediate };
  explicit Transaction(Database& db, Mode mode = Mode::Immediate);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  /// Commits; throws on failure (the transaction is then rolled back).
  void commit();
  /// Rolls back now; never throws.
  void rollback() noexcept;

 private:
  Database& m_db;
  bool m_open = false;
};

}  // namespace strata::cache
