#include "http/tls_context.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace workgate::http {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

::testing::Matcher<const TlsProblem&> Problem(const std::string& pointer, const std::string& message) {
  return AllOf(Field(&TlsProblem::pointer, pointer), Field(&TlsProblem::message, HasSubstr(message)));
}

TEST(TlsNameMatches, ExactAndOneLabelWildcards) {
  EXPECT_TRUE(tls_name_matches("api.example.com", "api.example.com"));
  EXPECT_TRUE(tls_name_matches("api.example.com", "API.Example.COM"));
  EXPECT_TRUE(tls_name_matches("api.example.com", "api.example.com."));
  EXPECT_FALSE(tls_name_matches("api.example.com", "www.example.com"));
  EXPECT_TRUE(tls_name_matches("*.example.com", "a.example.com"));
  EXPECT_TRUE(tls_name_matches("*.Example.com", "A.EXAMPLE.com"));
  EXPECT_FALSE(tls_name_matches("*.example.com", "example.com"));
  EXPECT_FALSE(tls_name_matches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(tls_name_matches("*.example.com", ".example.com"));
  EXPECT_FALSE(tls_name_matches("", ""));
}

// Certificates made with OpenSSL's API (a P-256 key, a self-signed certificate with the given SAN), in a
// temp dir removed at the end.
class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/wg-tls-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes NAME.pem and NAME.key; `days_valid` < 0 makes an expired certificate.
  TlsCertificateFiles make(const std::string& name, const std::string& san, long days_valid = 2) {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial_);
    if (days_valid >= 0) {
      X509_gmtime_adj(X509_getm_notBefore(cert), -60);
      X509_gmtime_adj(X509_getm_notAfter(cert), days_valid * 86400);
    } else {
      X509_gmtime_adj(X509_getm_notBefore(cert), days_valid * 2 * 86400);
      X509_gmtime_adj(X509_getm_notAfter(cert), days_valid * 86400);
    }
    X509_set_pubkey(cert, key);
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert, subject);
    if (!san.empty()) {
      X509V3_CTX v3;
      X509V3_set_ctx_nodb(&v3);
      X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(cert, key, EVP_sha256());
    TlsCertificateFiles files{path(name + ".pem"), path(name + ".key"), "/c/" + name};
    std::FILE* f = std::fopen(files.cert_file.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(files.key_file.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
    return files;
  }

  std::shared_ptr<const TlsContext> create(std::vector<TlsCertificateFiles> certificates) {
    TlsServerOptions options;
    options.certificates = std::move(certificates);
    options.pointer = "/t";
    errors_.clear();
    warnings_.clear();
    return TlsContext::create(options, errors_, warnings_);
  }

  std::filesystem::path dir_;
  long serial_ = 0;
  std::vector<TlsProblem> errors_;
  std::vector<TlsProblem> warnings_;
};

TEST_F(TlsContextTest, SelectsByExactAndWildcardSanNames) {
  auto tls =
      create({make("one", "DNS:one.test,DNS:Www.One.Test"), make("two", "DNS:two.test,DNS:*.wild.test"),
              make("three", "DNS:*.three.test,DNS:three.test,IP:127.0.0.1")});
  ASSERT_NE(tls, nullptr);
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_THAT(warnings_, IsEmpty());
  EXPECT_EQ(tls->certificate_count(), 3u);
  EXPECT_THAT(tls->names(0), ElementsAre("one.test", "www.one.test"));
  EXPECT_EQ(tls->select("one.test"), 0u);
  EXPECT_EQ(tls->select("WWW.one.test"), 0u);
  EXPECT_EQ(tls->select("two.test"), 1u);
  EXPECT_EQ(tls->select("two.test."), 1u);
  EXPECT_EQ(tls->select("api.wild.test"), 1u);
  EXPECT_EQ(tls->select("API.WILD.TEST"), 1u);
  EXPECT_EQ(tls->select("a.b.wild.test"), 0u);  // one label only: the default
  EXPECT_EQ(tls->select("wild.test"), 0u);
  EXPECT_EQ(tls->select("three.test"), 2u);
  EXPECT_EQ(tls->select("x.three.test"), 2u);
  EXPECT_EQ(tls->select("unknown.example"), 0u);
  EXPECT_EQ(tls->select(""), 0u);
  EXPECT_EQ(tls->select(std::string(300, 'a')), 0u);
  EXPECT_EQ(tls->alpn_list(), "http/1.1");
  EXPECT_EQ(tls->min_version_name(), "1.2");
}

TEST_F(TlsContextTest, AnExactNameWinsOverAWildcardAndTheFirstCertificateWinsATie) {
  auto tls = create({make("wild", "DNS:*.example.test"), make("exact", "DNS:api.example.test"),
                     make("again", "DNS:api.example.test,DNS:*.example.test")});
  ASSERT_NE(tls, nullptr);
  EXPECT_EQ(tls->select("api.example.test"), 1u);
  EXPECT_EQ(tls->select("www.example.test"), 0u);
}

TEST_F(TlsContextTest, ProblemsHaveThePointerOfTheEntry) {
  TlsCertificateFiles one = make("one", "DNS:one.test");
  TlsCertificateFiles two = make("two", "DNS:two.test");
  EXPECT_EQ(create({{one.cert_file, two.key_file, "/c/0"}}), nullptr);
  EXPECT_THAT(errors_, ElementsAre(Problem("/c/0/key_file", "does not match the certificate")));

  EXPECT_EQ(create({one, {path("missing.pem"), one.key_file, "/c/1"}}), nullptr);
  EXPECT_THAT(errors_, ElementsAre(Problem("/c/1/cert_file", "cannot read " + path("missing.pem") +
                                                                 ": No such file or directory")));

  std::ofstream(path("garbage.pem")) << "not PEM\n";
  EXPECT_EQ(create({{path("garbage.pem"), one.key_file, "/c/2"}}), nullptr);
  EXPECT_THAT(errors_, ElementsAre(Problem("/c/2/cert_file", "is not a PEM certificate")));
  EXPECT_EQ(create({{one.cert_file, path("garbage.pem"), "/c/3"}}), nullptr);
  EXPECT_THAT(errors_, ElementsAre(Problem("/c/3/key_file", "is not an unencrypted PEM private key")));

  EXPECT_EQ(create({}), nullptr);
  EXPECT_THAT(errors_, ElementsAre(Problem("/t/certificates", "needs a certificate")));
}

TEST_F(TlsContextTest, ExpiredCertificatesAndMissingNamesAreWarnings) {
  auto tls = create({make("old", "DNS:old.test", -1), make("nameless", ""), make("odd", "DNS:f*.odd.test")});
  ASSERT_NE(tls, nullptr);
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_THAT(warnings_, Contains(Problem("/c/old/cert_file", "expired on")));
  EXPECT_THAT(warnings_, Contains(Problem("/c/nameless/cert_file", "no DNS names in subjectAltName")));
  EXPECT_THAT(warnings_, Contains(Problem("/c/odd/cert_file", "wildcard name f*.odd.test is ignored")));
  EXPECT_EQ(tls->select("old.test"), 0u);
}

TEST_F(TlsContextTest, CertificateNamesOfAFile) {
  TlsCertificateFiles files = make("n", "DNS:A.test,IP:10.0.0.1,DNS:*.b.test");
  EXPECT_THAT(tls_certificate_names(files.cert_file), ElementsAre("a.test", "*.b.test"));
  EXPECT_THAT(tls_certificate_names(path("missing.pem")), IsEmpty());
}

}  // namespace
}  // namespace workgate::http
