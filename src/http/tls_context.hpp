// The TLS side of a listener: one SSL_CTX per certificate (OpenSSL 3 through asio::ssl), the SNI table
// that picks one per handshake, ALPN, session resumption (a server-side session cache and tickets whose
// keys rotate). Built once per config load (runtime/builder.cpp) and shared, immutable, by every shard; a
// connection keeps the TlsContext it was accepted with for its whole life, so a reload only affects new
// handshakes. See docs/tls.md.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace workgate::http {

struct TlsCertificateFiles {
  std::string cert_file;  // PEM: the certificate, then its chain
  std::string key_file;   // PEM: the private key (unencrypted)
  std::string pointer;    // JSON pointer of the entry, for messages
};

struct TlsServerOptions {
  std::vector<TlsCertificateFiles> certificates;  // the first one is the default
  int min_version = TLS1_2_VERSION;               // TLS1_2_VERSION or TLS1_3_VERSION
  // ALPN protocols in server preference order ("http/1.1"; "h2" once HTTP/2 exists). A client that offers
  // none of them gets no ALPN answer and speaks HTTP/1.1.
  std::vector<std::string> alpn = {"http/1.1"};
  std::string pointer;  // JSON pointer of the `tls` object
};

struct TlsProblem {
  std::string pointer;
  std::string message;
};

// The session-ticket key rotation period: a new key every period, tickets made with the previous key are
// still accepted (and renewed) for one more period, so a ticket resumes for between one and two periods.
inline constexpr std::chrono::seconds kTicketKeyPeriod{3600};

class TlsContext {
 public:
  // Loads every certificate and key. Problems that make the listener unusable (unreadable file, bad PEM,
  // a key that does not match its certificate) go to `errors`; an expired or not yet valid certificate, or
  // one without DNS names, to `warnings`. Returns null when there are errors. Never logs key material.
  static std::shared_ptr<const TlsContext> create(const TlsServerOptions& options,
                                                  std::vector<TlsProblem>& errors,
                                                  std::vector<TlsProblem>& warnings);

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ~TlsContext();

  // The context a handshake starts with (the first certificate); the servername callback switches the
  // connection to the certificate its SNI names.
  boost::asio::ssl::context& initial() const { return *contexts_.front(); }
  std::size_t certificate_count() const { return contexts_.size(); }
  const std::vector<std::string>& names(std::size_t certificate) const { return names_[certificate]; }
  std::string_view min_version_name() const { return min_version_ == TLS1_3_VERSION ? "1.3" : "1.2"; }
  const std::string& alpn_list() const { return alpn_text_; }

  // The certificate for a server name: an exact SAN dNSName, else a `*.` wildcard SAN one label up, else
  // the first certificate. Case-insensitive; a trailing dot is ignored.
  std::size_t select(std::string_view server_name) const;

 private:
  TlsContext() = default;
  static int on_servername(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                     unsigned int inlen, void* arg);

  std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;
  std::vector<std::vector<std::string>> names_;  // lower-case SAN dNSNames per certificate
  std::unordered_map<std::string, std::size_t> exact_;
  std::unordered_map<std::string, std::size_t> wildcard_;  // "*.example.com" -> certificate
  std::string alpn_wire_;                                  // length-prefixed, server preference order
  std::string alpn_text_;
  int min_version_ = TLS1_2_VERSION;
};

// Whether a certificate name (exact, or "*." + one label) covers a host name; both compared
// case-insensitively. "*.example.com" covers "a.example.com", not "example.com" nor "a.b.example.com".
bool tls_name_matches(std::string_view pattern, std::string_view host);

// The SAN dNSName entries of a PEM certificate file (lower-cased), for tests and `workgate routes`.
std::vector<std::string> tls_certificate_names(const std::string& cert_file);

}  // namespace workgate::http
