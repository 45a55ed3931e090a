// HTTPS for the registry: a self-signed certificate made in the test with OpenSSL, an
// httplib SSLClient without verification, the realm's https scheme, and clear startup
// errors for missing and mismatched files.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "registry_auth_fixture.hpp"
#include "util/error.hpp"

using namespace strata::registry;
using namespace strata::registry::test;

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const noexcept { X509_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

std::string pem_of(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

/// Writes a self-signed P-256 certificate for 127.0.0.1 to cert.pem / key.pem in `dir`.
void make_cert(const std::filesystem::path& dir, const std::string& prefix = "") {
  std::unique_ptr<EVP_PKEY, KeyFree> key(EVP_EC_gen("P-256"));
  REQUIRE(key);
  std::unique_ptr<X509, CertFree> cert(X509_new());
  REQUIRE(cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);

  std::unique_ptr<BIO, BioFree> cert_bio(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, BioFree> key_bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1);
  REQUIRE(PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                   nullptr) == 1);
  strata::util::write_file_atomic(dir / (prefix + "cert.pem"), pem_of(cert_bio.get()));
  strata::util::write_file_atomic(dir / (prefix + "key.pem"), pem_of(key_bio.get()), 0600);
}

std::string start_error(const ServerOptions& o) {
  try {
    Server server(o);
  } catch (const strata::util::Error& e) {
    return e.what();
  }
  return "<started>";
}

}  // namespace

TEST_CASE("TLS: HTTPS with auth, realm uses https", "[registry][auth][tls]") {
  strata::util::TempDir dir("strata-tls");
  make_cert(dir.path());
  strata::util::write_file_atomic(dir.path() / "users", test_htpasswd());
  ServerOptions o;
  o.tls.cert = dir.path() / "cert.pem";
  o.tls.key = dir.path() / "key.pem";
  o.auth.htpasswd = dir.path() / "users";
  TestRegistry reg(o);
  const int port = reg.server().port();

  httplib::SSLClient c("127.0.0.1", port);
  c.enable_server_certificate_verification(false);
  c.set_read_timeout(10, 0);
  auto root = c.Get("/v2/");
  REQUIRE(root);
  CHECK(root->status == 401);
  CHECK(root->get_header_value("WWW-Authenticate") ==
        "Bearer realm=\"https://127.0.0.1:" + std::to_string(port) +
            "/v2/token\",service=\"strata\"");
  auto token = c.Get("/v2/token?service=strata&scope=repository:team/app:pull,push",
                     basic("alice", "alice-pw"));
  REQUIRE(token);
  CHECK(token->status == 200);
  const std::string t = nlohmann::json::parse(token->body).at("token");
  const std::string data = "over tls";
  const auto digest = strata::oci::Digest::of(data);
  auto push = c.Post("/v2/team/app/blobs/uploads/?digest=" + digest.str(), bearer(t), data,
                     "application/octet-stream");
  REQUIRE(push);
  CHECK(push->status == 201);
  auto pull = c.Get("/v2/team/app/blobs/" + digest.str(), bearer(t));
  REQUIRE(pull);
  CHECK(pull->body == data);

  // Plain HTTP on the TLS port gets no registry answer.
  httplib::Client plain("127.0.0.1", port);
  plain.set_read_timeout(2, 0);
  auto res = plain.Get("/v2/");
  CHECK((!res || res->status != 401));
}

TEST_CASE("TLS: missing, malformed and mismatched files stop the server with a clear error",
          "[registry][auth][tls]") {
  strata::util::TempDir dir("strata-tls-bad");
  make_cert(dir.path());
  make_cert(dir.path(), "other-");
  ServerOptions o;
  o.root = dir.path() / "root";
  o.port = 0;
  o.tls.cert = dir.path() / "cert.pem";
  o.tls.key = dir.path() / "missing.pem";
  CHECK_THAT(start_error(o), Catch::Contains((dir.path() / "missing.pem").string()));

  o.tls.key = dir.path() / "other-key.pem";
  CHECK_THAT(start_error(o), Catch::Contains("does not match") &&
                                 Catch::Contains((dir.path() / "other-key.pem").string()));

  strata::util::write_file_atomic(dir.path() / "junk.pem", "not a certificate\n");
  o.tls.cert = dir.path() / "junk.pem";
  o.tls.key = dir.path() / "key.pem";
  CHECK_THAT(start_error(o), Catch::Contains("cannot load the TLS certificate") &&
                                 Catch::Contains((dir.path() / "junk.pem").string()));
}
