#include "registry/server/sqlite.hpp"

#include <sqlite3.h>

#include "util/error.hpp"

namespace strata::registry::sql {

void Connection::Closer::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }

Connection::Connection(const std::filesystem::path& path, int busy_timeout_ms)
    : m_name(path.string()) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(m_name.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  m_db.reset(raw);  // sqlite3_open_v2 may allocate a handle even when it fails
  if (rc != SQLITE_OK) {
    fail(rc, "cannot open database (check that the directory exists and is writable)");
  }
  sqlite3_busy_timeout(m_db.get(), busy_timeout_ms);
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
}

Connection::~Connection() = default;

void Connection::fail(int rc, std::string_view what) const {
  std::string msg = "database " + m_name + ": " + std::string(what) + ": ";
  msg += m_db ? sqlite3_errmsg(m_db.get()) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    util::fail(util::ErrorKind::Timeout, msg + " (another process holds the lock; retry)");
  }
  util::fail(util::ErrorKind::IO, msg);
}

void Connection::exec(std::string_view sql) {
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(m_db.get(), text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    fail(rc, "cannot run statement");
  }
}

std::int64_t Connection::changes() const noexcept { return sqlite3_changes(m_db.get()); }

void Statement::Finalizer::operator()(sqlite3_stmt* stmt) const noexcept {
  sqlite3_finalize(stmt);
}

Statement::Statement(Connection& db, std::string_view sql) : m_db(&db) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &raw,
                                    nullptr);
  m_stmt.reset(raw);
  if (rc != SQLITE_OK) {
    db.fail(rc, "cannot prepare statement");
  }
}

Statement& Statement::bind(int index, std::string_view value) {
  const int rc = sqlite3_bind_text(m_stmt.get(), index, value.data(),
                                   static_cast<int>(value.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) {
    m_db->fail(rc, "cannot bind parameter");
  }
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(m_stmt.get(), index, value);
  if (rc != SQLITE_OK) {
    m_db->fail(rc, "cannot bind parameter");
  }
  return *this;
}

Statement& Statement::bind_null(int index) {
  const int rc = sqlite3_bind_null(m_stmt.get(), index);
  if (rc != SQLITE_OK) {
    m_db->fail(rc, "cannot bind parameter");
  }
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(m_stmt.get());
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  m_db->fail(rc, "statement failed");
}

void Statement::run() {
  while (step()) {
  }
}

std::string Statement::text(int column) const {
  const auto* p = sqlite3_column_text(m_stmt.get(), column);
  if (p == nullptr) {
    return {};
  }
  return {reinterpret_cast<const char*>(p),
          static_cast<std::size_t>(sqlite3_column_bytes(m_stmt.get(), column))};
}

std::int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(m_stmt.get(), column);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(m_stmt.get(), column) == SQLITE_NULL;
}

Transaction::Transaction(Connection& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!m_done) {
    try {
      m_db.exec("ROLLBACK");
    } catch (...) {  // nothing sensible to do in a destructor; SQLite rolls back on close
    }
  }
}

void Transaction::commit() {
  m_db.exec("COMMIT");
  m_done = true;
}

}  // namespace strata::registry::sql
