#include "http/tls_context.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace workgate::http {
namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's "intermediate" configuration (TLS 1.2 part; TLS 1.3 suites are OpenSSL's defaults, all
// AEAD): forward secrecy and AEAD only. The DHE suites of that list are left out: they need DH parameters
// and every client that supports them supports ECDHE.
constexpr const char* kCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:prime256v1:secp384r1";
constexpr unsigned char kSessionIdContext[] = "workgate";
constexpr long kSessionCacheSize = 20480;
constexpr std::size_t kMaxServerName = 255;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// The reason of the last OpenSSL error (never key material), and clears the queue.
std::string openssl_error() {
  unsigned long code = ERR_peek_last_error();
  std::string text;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    text = buf;
  }
  ERR_clear_error();
  return text.empty() ? "unknown OpenSSL error" : text;
}

// A readable-file check before OpenSSL gets the path, for a clear "cannot read" message.
bool readable(const std::string& path, std::string& why) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    why = std::strerror(errno);
    return false;
  }
  std::fclose(f);
  return true;
}

int refuse_passphrase(char*, int, int, void*) {
  return 0;  // an encrypted key fails to load instead of prompting on the terminal
}

std::string asn1_time_text(const ASN1_TIME* t) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  ASN1_TIME_print(bio, t);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(std::max(0L, n)));
  BIO_free(bio);
  return out;
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_DNS) continue;
    const unsigned char* data = ASN1_STRING_get0_data(name->d.dNSName);
    int len = ASN1_STRING_length(name->d.dNSName);
    if (data == nullptr || len <= 0) continue;
    std::string_view text(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
    if (std::any_of(text.begin(), text.end(), [](char c) { return c <= ' ' || c > '~'; })) continue;
    out.push_back(lowered(text));
  }
  GENERAL_NAMES_free(names);
  return out;
}

// ------------------------------------------------------------------------------- session ticket keys

// Ticket keys are shared by every listener, certificate and shard of the process (a ticket made on one
// shard resumes on any) and survive config reloads; they rotate every kTicketKeyPeriod. The ring is
// behind a mutex, but a shard only takes it once per period: each thread keeps a copy of the keys of the
// current period (TicketKeyCache), so a handshake takes no lock.
struct TicketKey {
  unsigned char name[16] = {};
  unsigned char aes[32] = {};
  unsigned char hmac[32] = {};
  std::int64_t epoch = -1;

  void wipe() {
    OPENSSL_cleanse(this, sizeof(*this));
    epoch = -1;
  }
};

class TicketKeyRing {
 public:
  static TicketKeyRing& instance() {
    static TicketKeyRing ring;
    return ring;
  }

  // The keys of `epoch` (made on first use) and of the one before it (if it was made): false when the
  // random generator failed.
  bool keys_for(std::int64_t epoch, TicketKey& current, TicketKey& previous) {
    std::lock_guard lock(mutex_);
    if (current_.epoch < epoch) {
      if (current_.epoch == epoch - 1) {
        previous_ = current_;
      } else {
        previous_.wipe();
      }
      TicketKey next;
      if (RAND_bytes(next.name, 8) != 1 || RAND_bytes(next.aes, sizeof(next.aes)) != 1 ||
          RAND_bytes(next.hmac, sizeof(next.hmac)) != 1) {
        next.wipe();
        return false;
      }
      for (int i = 0; i < 8; ++i)
        next.name[8 + i] = static_cast<unsigned char>(static_cast<std::uint64_t>(epoch) >> (56 - 8 * i));
      next.epoch = epoch;
      current_.wipe();
      current_ = next;
      next.wipe();
    }
    current = current_;
    previous = previous_;
    return true;
  }

 private:
  std::mutex mutex_;
  TicketKey current_;
  TicketKey previous_;
};

struct TicketKeyCache {
  TicketKey current;
  TicketKey previous;
  ~TicketKeyCache() {
    current.wipe();
    previous.wipe();
  }
};

thread_local TicketKeyCache t_ticket_keys;

std::int64_t ticket_epoch() {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::seconds>(now).count() / kTicketKeyPeriod.count();
}

bool refresh_ticket_keys() {
  std::int64_t epoch = ticket_epoch();
  if (t_ticket_keys.current.epoch == epoch) return true;
  return TicketKeyRing::instance().keys_for(epoch, t_ticket_keys.current, t_ticket_keys.previous);
}

bool set_mac_key(EVP_MAC_CTX* hctx, unsigned char* key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
                         OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

// OpenSSL's ticket callback: enc=1 encrypts a new ticket with the current key; enc=0 finds the key a
// ticket names: 1 (current key), 2 (previous key, or any TLS 1.3 ticket: accepted, and a new ticket is
// issued), 0 (unknown or too old: a full handshake).
int on_ticket_key(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cctx,
                  EVP_MAC_CTX* hctx, int enc) {
  if (!refresh_ticket_keys()) return -1;
  TicketKeyCache& keys = t_ticket_keys;
  if (enc == 1) {
    std::memcpy(key_name, keys.current.name, sizeof(keys.current.name));
    if (RAND_bytes(iv, 16) != 1) return -1;
    if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, keys.current.aes, iv) != 1) return -1;
    return set_mac_key(hctx, keys.current.hmac) ? 1 : -1;
  }
  for (TicketKey* key : {&keys.current, &keys.previous}) {
    if (key->epoch < 0 || std::memcmp(key_name, key->name, sizeof(key->name)) != 0) continue;
    if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key->aes, iv) != 1) return -1;
    if (!set_mac_key(hctx, key->hmac)) return -1;
    // 2 also for TLS 1.3: its tickets are single-use for clients (RFC 8446, C.4), and OpenSSL only sends a
    // resumed TLS 1.3 connection a new ticket when asked to renew, so a client that reconnects again
    // would otherwise fall back to a full handshake every other time.
    return key == &keys.current && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
  }
  return 0;
}

}  // namespace

bool tls_name_matches(std::string_view pattern, std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (pattern.starts_with("*.")) {
    std::size_t dot = host.find('.');
    return dot != std::string_view::npos && dot > 0 && iequal(host.substr(dot), pattern.substr(1));
  }
  return !pattern.empty() && iequal(pattern, host);
}

std::vector<std::string> tls_certificate_names(const std::string& cert_file) {
  std::vector<std::string> out;
  std::FILE* f = std::fopen(cert_file.c_str(), "rb");
  if (f == nullptr) return out;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) {
    ERR_clear_error();
    return out;
  }
  out = dns_names(cert);
  X509_free(cert);
  return out;
}

TlsContext::~TlsContext() = default;

std::shared_ptr<const TlsContext> TlsContext::create(const TlsServerOptions& options,
                                                     std::vector<TlsProblem>& errors,
                                                     std::vector<TlsProblem>& warnings) {
  std::shared_ptr<TlsContext> out(new TlsContext());
  out->min_version_ = options.min_version;
  for (const std::string& protocol : options.alpn) {
    if (protocol.empty() || protocol.size() > 255) continue;
    out->alpn_wire_.push_back(static_cast<char>(protocol.size()));
    out->alpn_wire_.append(protocol);
    out->alpn_text_.append(out->alpn_text_.empty() ? "" : ",").append(protocol);
  }
  std::size_t errors_before = errors.size();
  if (options.certificates.empty())
    errors.push_back({options.pointer + "/certificates", "needs a certificate"});
  ERR_clear_error();

  for (std::size_t i = 0; i < options.certificates.size(); ++i) {
    const TlsCertificateFiles& files = options.certificates[i];
    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* ctx = context->native_handle();
    std::string why;
    if (!readable(files.cert_file, why)) {
      errors.push_back({files.pointer + "/cert_file", "cannot read " + files.cert_file + ": " + why});
      continue;
    }
    if (!readable(files.key_file, why)) {
      errors.push_back({files.pointer + "/key_file", "cannot read " + files.key_file + ": " + why});
      continue;
    }
    SSL_CTX_set_default_passwd_cb(ctx, refuse_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1) {
      errors.push_back({files.pointer + "/cert_file",
                        files.cert_file + " is not a PEM certificate (chain): " + openssl_error()});
      continue;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      unsigned long code = ERR_peek_last_error();
      if (ERR_GET_LIB(code) == ERR_LIB_X509 && (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH ||
                                                ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH)) {
        ERR_clear_error();
        errors.push_back({files.pointer + "/key_file",
                          files.key_file + " does not match the certificate in " + files.cert_file});
        continue;
      }
      errors.push_back({files.pointer + "/key_file",
                        files.key_file + " is not an unencrypted PEM private key: " + openssl_error()});
      continue;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      errors.push_back({files.pointer + "/key_file",
                        files.key_file + " does not match the certificate in " + files.cert_file});
      continue;
    }
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
      warnings.push_back({files.pointer + "/cert_file", "the certificate in " + files.cert_file +
                                                            " expired on " +
                                                            asn1_time_text(X509_get0_notAfter(cert))});
    } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
      warnings.push_back({files.pointer + "/cert_file", "the certificate in " + files.cert_file +
                                                            " is not valid before " +
                                                            asn1_time_text(X509_get0_notBefore(cert))});
    }
    std::vector<std::string> names = dns_names(cert);
    if (names.empty()) {
      warnings.push_back({files.pointer + "/cert_file",
                          "the certificate has no DNS names in subjectAltName: SNI never selects it" +
                              std::string(i == 0 ? " (it is the default certificate)" : "")});
    }
    std::size_t index = out->contexts_.size();
    for (const std::string& name : names) {
      if (name.starts_with("*.")) {
        if (name.find('*', 1) != std::string::npos || name.find('.', 2) == std::string::npos) {
          warnings.push_back({files.pointer + "/cert_file", "wildcard name " + name + " is ignored"});
          continue;
        }
        out->wildcard_.try_emplace(name, index);
      } else if (name.find('*') != std::string::npos) {
        warnings.push_back({files.pointer + "/cert_file", "wildcard name " + name + " is ignored"});
      } else {
        out->exact_.try_emplace(name, index);
      }
    }

    SSL_CTX_set_min_proto_version(ctx, options.min_version);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, kCipherList) != 1 || SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
      errors.push_back({options.pointer, "OpenSSL refused the cipher settings: " + openssl_error()});
      continue;
    }
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, kSessionCacheSize);
    SSL_CTX_set_timeout(ctx, static_cast<long>(kTicketKeyPeriod.count()));
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, out.get());
    out->contexts_.push_back(std::move(context));
    out->names_.push_back(std::move(names));
  }
  if (errors.size() != errors_before || out->contexts_.empty()) return nullptr;
  SSL_CTX* first = out->contexts_.front()->native_handle();
  SSL_CTX_set_tlsext_servername_callback(first, on_servername);
  SSL_CTX_set_tlsext_servername_arg(first, out.get());
  return out;
}

std::size_t TlsContext::select(std::string_view server_name) const {
  if (server_name.empty() || server_name.size() > kMaxServerName) return 0;
  if (server_name.back() == '.') server_name.remove_suffix(1);
  std::string host = lowered(server_name);
  if (auto it = exact_.find(host); it != exact_.end()) return it->second;
  std::size_t dot = host.find('.');
  if (dot == std::string::npos || dot == 0 || wildcard_.empty()) return 0;
  host.replace(0, dot, "*");
  if (auto it = wildcard_.find(host); it != wildcard_.end()) return it->second;
  return 0;
}

int TlsContext::on_servername(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || self->contexts_.size() == 1) return SSL_TLSEXT_ERR_OK;
  std::size_t index = self->select(name);
  if (index != 0) SSL_set_SSL_CTX(ssl, self->contexts_[index]->native_handle());
  return SSL_TLSEXT_ERR_OK;
}

int TlsContext::on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                        unsigned int inlen, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  if (self->alpn_wire_.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* selected = nullptr;
  int r = SSL_select_next_proto(&selected, outlen,
                                reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                                static_cast<unsigned int>(self->alpn_wire_.size()), in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace workgate::http
