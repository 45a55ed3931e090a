// A small RAII wrapper over the SQLite C API for the registry's own metadata database.
//
// The registry keeps its database separate from the store's strata.db so that the two
// schemas can evolve independently; this wrapper is deliberately tiny (open, prepare,
// bind, step, transactions) and private to registry/server.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace strata::registry::sql {

/// One SQLite connection. Opened in WAL mode with a busy timeout. Not thread-safe: the
/// owner serialises access (see Metadata). Move-only.
class Connection {
 public:
  /// Opens (creating if needed) the database at `path`. Throws IO naming the path.
  explicit Connection(const std::filesystem::path& path, int busy_timeout_ms = 5000);
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection();

  /// Runs one or more statements without results. Throws on failure.
  void exec(std::string_view sql);
  /// Rows changed by the last INSERT/UPDATE/DELETE.
  [[nodiscard]] std::int64_t changes() const noexcept;
  [[nodiscard]] sqlite3* handle() const noexcept { return m_db.get(); }
  [[nodiscard]] const std::string& name() const noexcept { return m_name; }

  /// Throws util::Error (Timeout for SQLITE_BUSY/LOCKED, else IO) naming the database.
  [[noreturn]] void fail(int rc, std::string_view what) const;

 private:
  struct Closer {
    void operator()(sqlite3* db) const noexcept;
  };
  std::unique_ptr<sqlite3, Closer> m_db;
  std::string m_name;
};

/// A prepared statement bound to a connection that must outlive it. Parameters are
/// 1-based as in SQLite; columns 0-based. Not thread-safe; move-only.
class Statement {
 public:
  Statement(Connection& db, std::string_view sql);

  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, std::int64_t value);
  Statement& bind_null(int index);

  /// Advances; true while a row is available, false when done. Throws on error.
  bool step();
  /// Runs to completion (for statements without results).
  void run();

  [[nodiscard]] std::string text(int column) const;
  [[nodiscard]] std::int64_t integer(int column) const;
  [[nodiscard]] bool is_null(int column) const;

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const noexcept;
  };
  Connection* m_db;
  std::unique_ptr<sqlite3_stmt, Finalizer> m_stmt;
};

/// BEGIN IMMEDIATE on construction; commit() makes it durable; rolls back when destroyed
/// without commit(). Not thread-safe.
class Transaction {
 public:
  explicit Transaction(Connection& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Connection& m_db;
  bool m_done = false;
};

}  // namespace strata::registry::sql
