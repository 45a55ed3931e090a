#include "cache/database.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "util/error.hpp"

namespace strata::cache {

namespace {

using util::ErrorKind;

// Retries on top of SQLite's busy handler, for the SQLITE_BUSY cases it does not wait on
// (WAL recovery by another connection, a snapshot made stale by another writer). They stop
// at the same deadline as the handler: the busy timeout counted from the first attempt.
class BusyRetry {
 public:
  explicit BusyRetry(std::chrono::milliseconds timeout)
      : m_deadline(std::chrono::steady_clock::now() + timeout) {}
  // Sleeps a little and returns true while time is left.
  bool again() {
    if (std::chrono::steady_clock::now() >= m_deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + 2 * std::min(m_attempt++, 20)));
    return true;
  }

 private:
  std::chrono::steady_clock::time_point m_deadline;
  int m_attempt = 0;
};

bool is_busy(int rc) noexcept {
  const int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Database

Database::Database(std::filesystem::path path) : Database(std::move(path), Options{}) {}

Database::Database(std::filesystem::path path, Options options)
    : m_path(std::move(path)), m_options(options) {
  const int rc =
      ::sqlite3_open_v2(m_path.c_str(), &m_db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = m_db != nullptr ? ::sqlite3_errmsg(m_db) : ::sqlite3_errstr(rc);
    ::sqlite3_close(m_db);
    m_db = nullptr;
    util::fail(ErrorKind::IO, "cannot open database " + m_path.string() + ": " + message +
                                  "; check that the store directory is writable");
  }
  try {
    ::sqlite3_busy_handler(m_db, &Database::on_busy, this);
    // Switching to WAL needs a brief exclusive lock when several processes create the
    // file at once; exec() retries on SQLITE_BUSY.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
  } catch (...) {
    ::sqlite3_close(m_db);
    m_db = nullptr;
    throw;
  }
}

int Database::on_busy(void* self, int count) noexcept {
  // SQLite's own busy_timeout sleeps up to 100 ms at a time, which turns a lock that is
  // held for a millisecond into a convoy. Short sleeps with a little jitter instead.
  auto* db = static_cast<Database*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (count == 0) {
    db->m_busy_since = now;
  } else if (now - db->m_busy_since >= db->m_options.busy_timeout) {
    return 0;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(count < 20    ? 200
                                                        : count < 200 ? 1000
                                                                      : 5000));
  return 1;
}

Database::~Database() {
  m_statements.clear();  // finalize before closing
  if (m_db != nullptr) {
    ::sqlite3_close(m_db);
  }
}

void Database::fail(int rc, std::string_view what) const {
  const int primary = rc & 0xff;
  const std::string detail = m_db != nullptr ? ::sqlite3_errmsg(m_db) : ::sqlite3_errstr(rc);
  const std::string where = "database " + m_path.string() + ": " + std::string(what) + ": ";
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      util::fail(ErrorKind::Timeout,
                 where + "still locked by another process after waiting " +
                     std::to_string(m_options.busy_timeout.count() / 1000) +
                     " s; retry, or look for a stuck strata process using this store");
    case SQLITE_CONSTRAINT:
      util::fail(ErrorKind::Conflict, where + detail);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      util::fail(ErrorKind::Corruption, where + detail +
                                            "; move the file away and run `strata cache verify` to "
                                            "re-register the blobs");
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOLFS:
    case SQLITE_PROTOCOL:
      util::fail(ErrorKind::IO, where + detail);
    default:
      util::fail(ErrorKind::Internal, where + detail);
  }
}

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  BusyRetry retry(m_options.busy_timeout);
  for (;;) {
    char* message = nullptr;
    const int rc = ::sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &message);
    ::sqlite3_free(message);
    if (rc == SQLITE_OK) {
      return;
    }
    if (is_busy(rc) && ::sqlite3_get_autocommit(m_db) != 0 && retry.again()) {
      continue;
    }
    fail(rc, text);
  }
}

Query Database::query(const std::string& sql) {
  auto it = m_statements.find(sql);
  if (it == m_statements.end()) {
    it = m_statements.emplace(sql, std::make_unique<Statement>(*this, sql)).first;
  }
  return Query(*it->second);
}

std::int64_t Database::changes() const noexcept {
  return ::sqlite3_changes(m_db);
}

std::int64_t Database::pragma_int(std::string_view name) {
  auto q = query("PRAGMA " + std::string(name));
  return q.step() ? q.integer(0) : 0;
}

bool Database::in_transaction() const noexcept {
  return ::sqlite3_get_autocommit(m_db) == 0;
}

// ---------------------------------------------------------------------------------------
// Statement

Statement::Statement(Database& db, std::string_view sql) : m_db(db), m_sql(sql) {
  const int rc = ::sqlite3_prepare_v3(db.handle(), m_sql.c_str(), static_cast<int>(m_sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &m_stmt, nullptr);
  if (rc != SQLITE_OK) {
    ::sqlite3_finalize(m_stmt);
    m_stmt = nullptr;
    db.fail(rc, "cannot prepare \"" + m_sql + "\"");
  }
}

Statement::~Statement() {
  ::sqlite3_finalize(m_stmt);
}

void Statement::bind(int index, std::string_view text) {
  const int rc =
      ::sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) {
    m_db.fail(rc, "cannot bind parameter " + std::to_string(index) + " of \"" + m_sql + "\"");
  }
}

void Statement::bind(int index, std::int64_t value) {
  const int rc = ::sqlite3_bind_int64(m_stmt, index, value);
  if (rc != SQLITE_OK) {
    m_db.fail(rc, "cannot bind parameter " + std::to_string(index) + " of \"" + m_sql + "\"");
  }
}

void Statement::bind_null(int index) {
  const int rc = ::sqlite3_bind_null(m_stmt, index);
  if (rc != SQLITE_OK) {
    m_db.fail(rc, "cannot bind parameter " + std::to_string(index) + " of \"" + m_sql + "\"");
  }
}

bool Statement::step() {
  BusyRetry retry(m_db.options().busy_timeout);
  for (;;) {
    const int rc = ::sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) {
      m_produced = true;
      return true;
    }
    if (rc == SQLITE_DONE) {
      return false;
    }
    // Only a statement that has produced nothing yet and runs outside an explicit
    // transaction can be restarted without changing what the caller sees.
    if (is_busy(rc) && ::sqlite3_get_autocommit(m_db.handle()) != 0 && !m_produced &&
        retry.again()) {
      ::sqlite3_reset(m_stmt);
      continue;
    }
    ::sqlite3_reset(m_stmt);
    m_db.fail(rc, m_sql);
  }
}

void Statement::reset() noexcept {
  m_produced = false;
  ::sqlite3_reset(m_stmt);
  ::sqlite3_clear_bindings(m_stmt);
}

std::string Statement::column_text(int index) const {
  const auto* text = ::sqlite3_column_text(m_stmt, index);
  if (text == nullptr) {
    return {};
  }
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(::sqlite3_column_bytes(m_stmt, index))};
}

std::int64_t Statement::changes() const noexcept {
  return ::sqlite3_changes(m_db.handle());
}

std::int64_t Statement::column_int(int index) const {
  return ::sqlite3_column_int64(m_stmt, index);
}

bool Statement::column_is_null(int index) const {
  return ::sqlite3_column_type(m_stmt, index) == SQLITE_NULL;
}

// ---------------------------------------------------------------------------------------
// Query

Query::Query(Statement& statement) noexcept : m_stmt(&statement) {
  m_stmt->reset();
}

Query::Query(Query&& other) noexcept : m_stmt(std::exchange(other.m_stmt, nullptr)) {}

Query::~Query() {
  if (m_stmt != nullptr) {
    m_stmt->reset();
  }
}

Query& Query::bind(int index, std::string_view text) {
  m_stmt->bind(index, text);
  return *this;
}

Query& Query::bind(int index, std::int64_t value) {
  m_stmt->bind(index, value);
  return *this;
}

Query& Query::bind(int index, std::uint64_t value) {
  m_stmt->bind(index, static_cast<std::int64_t>(value));
  return *this;
}

Query& Query::bind_null(int index) {
  m_stmt->bind_null(index);
  return *this;
}

bool Query::step() {
  return m_stmt->step();
}

std::int64_t Query::run() {
  while (m_stmt->step()) {
  }
  return m_stmt->changes();
}

// ---------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(Database& db, Mode mode) : m_db(db) {
  m_db.exec(mode == Mode::Immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  m_open = true;
}

Transaction::~Transaction() {
  rollback();
}

void Transaction::commit() {
  if (!m_open) {
    util::fail(ErrorKind::Internal, "commit of a finished transaction on " + m_db.path().string());
  }
  try {
    m_db.exec("COMMIT");
    m_open = false;
  } catch (...) {
    rollback();
    throw;
  }
}

void Transaction::rollback() noexcept {
  if (m_open) {
    m_open = false;
    if (::sqlite3_get_autocommit(m_db.handle()) == 0) {
      ::sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
}

}  // namespace strata::cache
