#include "proxy/tls/tls_context.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>

namespace bgp {
namespace {

// Mozilla "intermediate": AEAD suites with forward secrecy only (TLS 1.2 and 1.3).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";
// Tickets of a rebuilt context must resume: the same id context in every one.
constexpr std::string_view kSessionIdContext = "bgproxy";

// The reason of the newest queued OpenSSL error, and an empty queue for whoever comes next.
std::string openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

std::string harden(SSL_CTX& ctx, TlsVersion min_version) {
  const int min = min_version == TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(&ctx, min) != 1 ||
      SSL_CTX_set_cipher_list(&ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(&ctx, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(&ctx, kGroups) != 1) {
    return "cannot apply the TLS settings: " + openssl_error();
  }
  SSL_CTX_set_options(&ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // write_some semantics (a record at a time), retries from a moved buffer allowed. Buffers are
  // released explicitly when a connection parks (TlsStream::release_buffers), not after every
  // record: that would cost a 17 KB free and malloc per record on a busy connection.
  SSL_CTX_set_mode(&ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A read takes what the socket holds, not a record's 5-byte header and then its body: one
  // syscall for the records a client sent together (an HTTP/2 client's many small ones) instead
  // of two per record. What it read ahead counts as buffered input (TlsStream::has_buffered_input).
  SSL_CTX_set_read_ahead(&ctx, 1);
  return {};
}

std::string use_chain(SSL_CTX& ctx, const CertificateChain& chain) {
  if (SSL_CTX_use_certificate(&ctx, chain.leaf.get()) != 1) {
    return "cannot use the certificate: " + openssl_error();
  }
  for (const auto& intermediate : chain.intermediates) {
    if (SSL_CTX_add1_chain_cert(&ctx, intermediate.get()) != 1) {
      return "cannot use an intermediate certificate: " + openssl_error();
    }
  }
  if (SSL_CTX_use_PrivateKey(&ctx, chain.key.get()) != 1 || SSL_CTX_check_private_key(&ctx) != 1) {
    return "cannot use the private key: " + openssl_error();
  }
  return {};
}

std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& protocol : protocols) {
    wire.push_back(static_cast<char>(protocol.size()));
    wire += protocol;
  }
  return wire;
}

const unsigned char* bytes(const std::string& text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

bool is_ip_literal(const std::string& host) {
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

bool set_ticket_mac(EVP_MAC_CTX* mac, const std::array<unsigned char, 32>& key) {
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.data()),
                                        key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

}  // namespace

// ---- TicketKeys ----

TicketKeys::TicketKeys() {
  keys_.push_back(random_key());
}

TicketKeys::~TicketKeys() {
  if (!keys_.empty()) OPENSSL_cleanse(keys_.data(), keys_.size() * sizeof(Key));
}

TicketKeys::Key TicketKeys::random_key() {
  Key key;
  if (RAND_bytes(key.name.data(), key.name.size()) != 1 ||
      RAND_bytes(key.aes.data(), key.aes.size()) != 1 ||
      RAND_bytes(key.hmac.data(), key.hmac.size()) != 1) {
    throw std::runtime_error("no randomness for the session ticket keys: " + openssl_error());
  }
  return key;
}

void TicketKeys::rotate() {
  const Key fresh = random_key();
  const std::lock_guard lock(mutex_);
  if (keys_.size() == kKept) {
    OPENSSL_cleanse(&keys_.back(), sizeof(Key));
    keys_.pop_back();
  }
  keys_.insert(keys_.begin(), fresh);
}

int TicketKeys::encrypt(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac) const {
  const EVP_CIPHER* aes = EVP_aes_256_cbc();
  if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(aes)) != 1) return -1;
  const std::lock_guard lock(mutex_);
  const Key& key = keys_.front();
  std::memcpy(name, key.name.data(), key.name.size());
  if (EVP_EncryptInit_ex(cipher, aes, nullptr, key.aes.data(), iv) != 1) return -1;
  return set_ticket_mac(mac, key.hmac) ? 1 : -1;
}

int TicketKeys::decrypt(const unsigned char* name, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac) const {
  const std::lock_guard lock(mutex_);
  const auto key = std::find_if(keys_.begin(), keys_.end(), [&](const Key& k) {
    return std::memcmp(k.name.data(), name, k.name.size()) == 0;
  });
  if (key == keys_.end()) return 0;
  if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv) != 1 ||
      !set_ticket_mac(mac, key->hmac)) {
    return -1;
  }
  return key == keys_.begin() ? 1 : 2;
}

// ---- TlsServerContext ----

TlsBuilt<TlsServerContext> TlsServerContext::create(const TlsConfig& config,
                                                    std::shared_ptr<TicketKeys> ticket_keys) {
  auto chain = load_certificate_chain(config.cert, config.key, std::chrono::system_clock::now());
  if (!chain.ok()) return {nullptr, chain.problem.message};
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return {nullptr, "cannot create a TLS context: " + openssl_error()};
  std::string error = harden(*ctx, config.min_version);
  if (error.empty()) error = use_chain(*ctx, *chain.value);
  if (!error.empty()) return {nullptr, std::move(error)};
  // Stateless tickets only: a server-side cache would die with the context at each reload.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(ctx.get(), bytes(std::string(kSessionIdContext)),
                                 kSessionIdContext.size());
  auto context = std::make_shared<TlsServerContext>(
      Private{}, std::move(ctx), std::move(ticket_keys), config.alpn, chain.value->not_after);
  context->install_callbacks();
  return {std::move(context), {}};
}

TlsServerContext::TlsServerContext(Private, SslCtxPtr ctx, std::shared_ptr<TicketKeys> keys,
                                   std::vector<std::string> alpn, std::int64_t not_after)
    : ctx_(std::move(ctx)),
      ticket_keys_(std::move(keys)),
      alpn_(std::move(alpn)),
      alpn_wire_(alpn_wire(alpn_)),
      not_after_(not_after) {}

// Both callbacks find this object through the SSL_CTX; it never moves (held by shared_ptr).
void TlsServerContext::install_callbacks() {
  SSL_CTX_set_app_data(ctx_.get(), this);
  SSL_CTX_set_alpn_select_cb(ctx_.get(), &TlsServerContext::select_alpn, this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx_.get(), &TlsServerContext::ticket_key);
}

SslPtr TlsServerContext::new_ssl() const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (ssl) SSL_set_accept_state(ssl.get());
  return ssl;
}

// The server's preference wins. No overlap is fatal (alert 120, RFC 7301); a client that
// offers no ALPN at all is served the first protocol (http/1.1) without the extension.
int TlsServerContext::select_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                                  const unsigned char* offered, unsigned int offered_length,
                                  void* self) {
  const auto& context = *static_cast<const TlsServerContext*>(self);
  unsigned char* selected = nullptr;
  const int result = SSL_select_next_proto(&selected, out_length, bytes(context.alpn_wire_),
                                           context.alpn_wire_.size(), offered, offered_length);
  if (result != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

int TlsServerContext::ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv,
                                 EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  const auto* context =
      static_cast<const TlsServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (context == nullptr) return -1;
  const TicketKeys& keys = *context->ticket_keys_;
  return encrypt != 0 ? keys.encrypt(name, iv, cipher, mac) : keys.decrypt(name, iv, cipher, mac);
}

// ---- TlsServerContextSlot ----

TlsServerContextSlot::TlsServerContextSlot(std::shared_ptr<TicketKeys> ticket_keys)
    : ticket_keys_(ticket_keys ? std::move(ticket_keys) : std::make_shared<TicketKeys>()) {}

std::string TlsServerContextSlot::reload(const TlsConfig& config) {
  auto built = TlsServerContext::create(config, ticket_keys_);
  if (!built.ok()) return std::move(built.error);
  const std::lock_guard lock(mutex_);
  current_ = std::move(built.context);
  return {};
}

std::shared_ptr<const TlsServerContext> TlsServerContextSlot::current() const {
  const std::lock_guard lock(mutex_);
  return current_;
}

// ---- TlsSessionCache ----

TlsSessionCache::Entry& TlsSessionCache::entry(const std::string& endpoint) {
  const std::lock_guard lock(mutex_);
  return entries_.try_emplace(endpoint).first->second;
}

// A copy, never the cached session itself: OpenSSL marks a TLS 1.3 session it resumed as used up
// (no longer resumable: tickets are single use, RFC 8446 appendix C.4). Handing out the cached one
// made the next connection a full handshake: only every other connection resumed.
SslSessionPtr TlsSessionCache::get(const Entry& entry) const {
  const std::lock_guard lock(mutex_);
  if (!entry.session) return nullptr;
  return SslSessionPtr(SSL_SESSION_dup(entry.session.get()));
}

void TlsSessionCache::put(Entry& entry, SSL_SESSION* session) {
  if (SSL_SESSION_is_resumable(session) != 1 || SSL_SESSION_up_ref(session) != 1) return;
  SslSessionPtr owned(session);
  const std::lock_guard lock(mutex_);
  entry.session.swap(owned);  // the replaced session is freed after the unlock
}

std::size_t TlsSessionCache::size() const {
  const std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(
      entries_.begin(), entries_.end(), [](const auto& e) { return e.second.session != nullptr; }));
}

// ---- TlsClientContext ----

TlsBuilt<TlsClientContext> TlsClientContext::create(const BackendTlsConfig& config,
                                                    std::string_view alpn) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return {nullptr, "cannot create a TLS context: " + openssl_error()};
  if (auto error = harden(*ctx, TlsVersion::v1_2); !error.empty()) return {nullptr, error};
  if (config.verify) SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (config.ca.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return {nullptr, "cannot load the system's CA store: " + openssl_error()};
    }
  } else {
    auto cas = load_ca_file(config.ca);
    if (!cas.ok()) return {nullptr, std::move(cas.problem.message)};
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    for (const auto& ca : *cas.value) {
      if (X509_STORE_add_cert(store, ca.get()) != 1) {
        return {nullptr, fmt::format("cannot trust a CA of '{}': {}", config.ca, openssl_error())};
      }
    }
  }
  const std::string wire = alpn_wire({std::string(alpn)});
  if (SSL_CTX_set_alpn_protos(ctx.get(), bytes(wire), wire.size()) != 0) {  // 0 is success
    return {nullptr, "cannot set ALPN: " + openssl_error()};
  }
  // An upstream that closes without close_notify (many do) ends a close-delimited body like a
  // plain close; a body with a length or chunks is still checked whole by the HTTP parser.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Sessions live in our per-endpoint cache, not in OpenSSL's per-context one.
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx.get(), &TlsClientContext::new_session);
  auto context = std::make_shared<TlsClientContext>(Private{}, std::move(ctx), config);
  SSL_CTX_set_app_data(context->ctx_.get(), context.get());
  return {std::move(context), {}};
}

TlsClientContext::TlsClientContext(Private, SslCtxPtr ctx, const BackendTlsConfig& config)
    : ctx_(std::move(ctx)),
      server_name_(config.server_name),
      verify_(config.verify),
      sessions_(std::make_unique<TlsSessionCache>()) {}

std::string_view TlsClientContext::expected_name(const Address& endpoint) const {
  return server_name_.empty() ? std::string_view(endpoint.host) : std::string_view(server_name_);
}

SslPtr TlsClientContext::new_ssl(const Address& endpoint) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl || !configure(*ssl, endpoint)) return nullptr;
  return ssl;
}

bool TlsClientContext::configure(SSL& ssl, const Address& endpoint) const {
  SSL_set_connect_state(&ssl);
  const std::string name(expected_name(endpoint));
  if (is_ip_literal(name)) {  // no SNI for an address (RFC 6066); its IP SAN is checked
    if (verify_ && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(&ssl), name.c_str()) != 1) {
      return false;
    }
  } else if (SSL_set_tlsext_host_name(&ssl, name.c_str()) != 1 ||
             (verify_ && SSL_set1_host(&ssl, name.c_str()) != 1)) {
    return false;
  }
  auto& entry = sessions_->entry(endpoint.to_string());
  SSL_set_app_data(&ssl, &entry);
  if (const auto session = sessions_->get(entry)) SSL_set_session(&ssl, session.get());
  return true;
}

// OpenSSL hands over each new session (after the handshake in TLS 1.2, with each ticket in
// 1.3): the newest one per endpoint is kept. Returns 0: OpenSSL keeps its own reference.
int TlsClientContext::new_session(SSL* ssl, SSL_SESSION* session) {
  const auto* context =
      static_cast<const TlsClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* entry = static_cast<TlsSessionCache::Entry*>(SSL_get_app_data(ssl));
  if (context != nullptr && entry != nullptr) context->sessions_->put(*entry, session);
  return 0;
}

}  // namespace bgp
