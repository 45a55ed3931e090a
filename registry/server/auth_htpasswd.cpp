// htpasswd files with bcrypt hashes, checked with libcrypt's crypt_r.
//
// Only bcrypt is accepted: the other formats htpasswd can write (MD5-crypt "$apr1$", SHA1
// "{SHA}", crypt(3) DES, plain text) are weak, so a file holding one is refused at startup
// with the offending line. crypt_r recomputes the hash from the password and the salt and
// cost stored in the hash; the result is compared in constant time. Unknown users are
// checked against a fixed dummy hash so that a probe cannot tell them apart by timing.
#include <crypt.h>
#include <openssl/crypto.h>

#include <memory>

#include "registry/server/auth.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::registry {

namespace {

// A valid bcrypt hash (cost 10) of a random string nobody knows; used for unknown users.
constexpr const char* k_dummy_hash =
    "$2b$10$21uQh8Lxn0xIcSftdZzRUO4oofMBwavOvAu54bL586EqdvbislTvK";

bool is_bcrypt(std::string_view hash) {
  return hash.size() == 60 &&
         (hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$"));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

bool bcrypt_verify(std::string_view password, const std::string& hash) {
  if (!is_bcrypt(hash) || password.find('\0') != std::string_view::npos) {
    return false;
  }
  // crypt_data is large (tens of KiB): keep it off the request thread's stack.
  auto data = std::make_unique<crypt_data>();
  const std::string pw(password);
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  if (out == nullptr || out[0] == '*') {
    return false;
  }
  const std::string_view result(out);
  return result.size() == hash.size() &&
         CRYPTO_memcmp(result.data(), hash.data(), hash.size()) == 0;
}

Htpasswd Htpasswd::load(const std::filesystem::path& file) {
  return parse(util::read_file(file), file.string());
}

Htpasswd Htpasswd::parse(std::string_view text, const std::string& source) {
  Htpasswd out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view raw = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const std::string where = source + ":" + std::to_string(line_no);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      util::fail(util::ErrorKind::InvalidInput,
                 where + ": expected USER:HASH (write the file with `htpasswd -B`)");
    }
    const std::string user(line.substr(0, colon));
    const std::string hash(line.substr(colon + 1));
    if (!is_bcrypt(hash)) {
      util::fail(util::ErrorKind::InvalidInput,
                 where + ": the hash of user '" + user +
                     "' is not bcrypt; only bcrypt ($2y$, $2b$, $2a$) is accepted: "
                     "recreate it with `htpasswd -B " + source + " " + user + "`");
    }
    if (user == "anonymous") {
      util::fail(util::ErrorKind::InvalidInput,
                 where + ": 'anonymous' is reserved for callers without credentials; "
                         "rename this user");
    }
    if (!out.m_hashes.emplace(user, hash).second) {
      util::fail(util::ErrorKind::InvalidInput,
                 where + ": user '" + user + "' appears twice; keep one line per user");
    }
  }
  return out;
}

bool Htpasswd::verify(std::string_view user, std::string_view password) const {
  const auto it = m_hashes.find(user);
  if (it == m_hashes.end()) {
    (void)bcrypt_verify(password, k_dummy_hash);
    return false;
  }
  return bcrypt_verify(password, it->second);
}

bool Htpasswd::has_user(std::string_view user) const { return m_hashes.count(user) > 0; }

}  // namespace strata::registry
