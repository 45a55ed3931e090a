// Registry tokens: JWT-shaped (base64url(header).base64url(payload).base64url(mac)) and
// signed with HMAC-SHA256 under a per-registry secret kept in <root>/token.key. Clients
// treat tokens as opaque; only this server reads them back, so a shared secret suffices.
// The payload carries the subject, audience (service), issue and expiry times and the
// granted access list in distribution's shape: [{"type","name","actions":[...]}].
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "registry/server/auth.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace strata::registry {

namespace {

constexpr std::string_view k_std_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view k_url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) ==
      nullptr) {
    util::fail(util::ErrorKind::Internal, "HMAC-SHA256 failed (OpenSSL)");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

/// 16 random hex digits: a token id, so that two tokens issued in one second differ.
std::string random_id() {
  unsigned char raw[8];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    util::fail(util::ErrorKind::Internal, "cannot generate a token id (OpenSSL RAND_bytes)");
  }
  return util::to_hex(raw, sizeof raw);
}

int from_hex(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view data, bool url) {
  const std::string_view alphabet = url ? k_url_alphabet : k_std_alphabet;
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const auto n = (static_cast<unsigned char>(data[i]) << 16) |
                   (static_cast<unsigned char>(data[i + 1]) << 8) |
                   static_cast<unsigned char>(data[i + 2]);
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(alphabet[(n >> 6) & 63]);
    out.push_back(alphabet[n & 63]);
  }
  const std::size_t rest = data.size() - i;
  if (rest > 0) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16;
    if (rest == 2) {
      n |= static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8;
    }
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    if (rest == 2) {
      out.push_back(alphabet[(n >> 6) & 63]);
    }
    if (!url) {
      out.append(rest == 1 ? "==" : "=");
    }
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text, bool url) {
  const std::string_view alphabet = url ? k_url_alphabet : k_std_alphabet;
  if (!url) {
    if (text.size() % 4 != 0) {
      return std::nullopt;
    }
    while (!text.empty() && text.back() == '=') {
      text.remove_suffix(1);
    }
  }
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const auto pos = alphabet.find(c);
    if (pos == std::string_view::npos) {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

TokenSigner::TokenSigner(std::string key) : m_key(std::move(key)) {
  if (m_key.size() < 32) {
    util::fail(util::ErrorKind::InvalidInput, "token signing key is shorter than 32 bytes");
  }
}

TokenSigner TokenSigner::from_key_file(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) {
      util::fail(util::ErrorKind::Internal, "cannot generate a token key (OpenSSL RAND_bytes)");
    }
    util::write_file_atomic(file, util::to_hex(raw, sizeof raw) + "\n", 0600);
  }
  std::string text = util::read_file(file);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  if (text.size() < 64 || text.size() % 2 != 0) {
    util::fail(util::ErrorKind::InvalidInput,
               file.string() + ": expected at least 64 lower-case hex digits; delete the file "
                               "to generate a new key (issued tokens become invalid)");
  }
  std::string key;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = from_hex(text[i]);
    const int lo = from_hex(text[i + 1]);
    if (hi < 0 || lo < 0) {
      util::fail(util::ErrorKind::InvalidInput,
                 file.string() + ": not hex; delete the file to generate a new key");
    }
    key.push_back(static_cast<char>(hi * 16 + lo));
  }
  return TokenSigner(std::move(key));
}

std::string TokenSigner::sign(const TokenClaims& claims) const {
  nlohmann::json access = nlohmann::json::array();
  for (const auto& s : claims.access) {
    nlohmann::json actions = nlohmann::json::array();
    if (s.type == "registry") {
      actions.push_back("*");
    } else {
      for (const unsigned bit : {k_action_pull, k_action_push, k_action_delete}) {
        if ((s.actions & bit) != 0) {
          actions.push_back(action_list(bit));
        }
      }
    }
    access.push_back({{"type", s.type}, {"name", s.name}, {"actions", actions}});
  }
  const nlohmann::json payload = {{"iss", "strata"},
                                  {"sub", claims.subject},
                                  {"aud", claims.audience},
                                  {"iat", claims.issued_at},
                                  {"nbf", claims.issued_at},
                                  {"exp", claims.expires_at},
                                  {"jti", random_id()},
                                  {"access", access}};
  const std::string head = base64_encode(R"({"alg":"HS256","typ":"JWT"})", true) + "." +
                           base64_encode(payload.dump(), true);
  return head + "." + base64_encode(hmac_sha256(m_key, head), true);
}

std::optional<TokenClaims> TokenSigner::verify(std::string_view token, std::int64_t now,
                                               std::string_view audience) const {
  const auto dot1 = token.find('.');
  const auto dot2 = token.rfind('.');
  if (dot1 == std::string_view::npos || dot1 == dot2 || token.size() > 64 * 1024) {
    return std::nullopt;
  }
  const auto mac = base64_decode(token.substr(dot2 + 1), true);
  const std::string expected = hmac_sha256(m_key, token.substr(0, dot2));
  if (!mac || mac->size() != expected.size() ||
      CRYPTO_memcmp(mac->data(), expected.data(), expected.size()) != 0) {
    return std::nullopt;
  }
  const auto payload = base64_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), true);
  if (!payload) {
    return std::nullopt;
  }
  try {
    const auto j = nlohmann::json::parse(*payload);
    TokenClaims claims;
    claims.subject = j.at("sub").get<std::string>();
    claims.audience = j.at("aud").get<std::string>();
    claims.issued_at = j.at("iat").get<std::int64_t>();
    claims.expires_at = j.at("exp").get<std::int64_t>();
    for (const auto& a : j.at("access")) {
      Scope s;
      s.type = a.at("type").get<std::string>();
      s.name = a.at("name").get<std::string>();
      for (const auto& act : a.at("actions")) {
        s.actions |= parse_action(act.get<std::string>());
      }
      claims.access.push_back(std::move(s));
    }
    if (claims.audience != audience || now >= claims.expires_at || now + 60 < claims.issued_at) {
      return std::nullopt;
    }
    return claims;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace strata::registry
