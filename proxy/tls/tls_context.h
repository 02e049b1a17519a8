// The TLS contexts: what the listener's handshakes use (TlsServerContext, immutable, rebuilt on a
// reload) and what upstream connections of one color use (TlsClientContext), and the session
// ticket keys that outlive both so that a reload does not cost every client a full handshake.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/ssl.h>

#include "config/config.h"
#include "config/tls_files.h"

namespace bgp {

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslFree<&SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslFree<&SSL_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, OpenSslFree<&SSL_SESSION_free>>;

// Either a context or why it could not be built (the message names the file at fault).
template <typename T>
struct TlsBuilt {
  std::shared_ptr<const T> context;
  std::string error;

  bool ok() const { return context != nullptr; }
};

// Session ticket keys for the life of the process. The newest key encrypts; older ones (up to
// kKept) still decrypt, and a ticket under an older key is renewed. Thread-safe: every worker's
// handshakes use it.
class TicketKeys {
 public:
  static constexpr std::size_t kKept = 3;

  TicketKeys();  // one fresh random key; throws std::runtime_error when there is no randomness
  ~TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // A new encrypting key (e.g. daily); tickets under the previous kKept - 1 keys still resume.
  void rotate();

  // SSL_CTX_set_tlsext_ticket_key_evp_cb's contract: encrypt returns 1 or -1; decrypt returns
  // 1, 2 (valid, renew it), 0 (unknown key: full handshake) or -1.
  int encrypt(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac) const;
  int decrypt(const unsigned char* name, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac) const;

 private:
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;
    std::array<unsigned char, 32> hmac;
  };
  static Key random_key();

  mutable std::mutex mutex_;
  std::vector<Key> keys_;  // newest first
};

// The listener's handshake settings, built once from the config and never changed: a reload
// builds a new one, and open connections keep theirs through a shared_ptr.
class TlsServerContext {
  struct Private {};

 public:
  static TlsBuilt<TlsServerContext> create(const TlsConfig& config,
                                           std::shared_ptr<TicketKeys> ticket_keys);

  TlsServerContext(Private, SslCtxPtr ctx, std::shared_ptr<TicketKeys> keys,
                   std::vector<std::string> alpn, std::int64_t not_after);
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  SslPtr new_ssl() const;  // in accept state; nullptr when out of memory
  std::int64_t cert_not_after() const noexcept { return not_after_; }  // unix seconds
  const std::vector<std::string>& alpn() const noexcept { return alpn_; }
  SSL_CTX* native_handle() const noexcept { return ctx_.get(); }

 private:
  static int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                         const unsigned char* offered, unsigned int offered_length, void* self);
  static int ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac, int encrypt);
  void install_callbacks();

  SslCtxPtr ctx_;
  std::shared_ptr<TicketKeys> ticket_keys_;
  std::vector<std::string> alpn_;
  std::string alpn_wire_;  // length-prefixed, as ALPN selection wants it
  std::int64_t not_after_ = 0;
};

// The listener's current context: what a new handshake uses. reload() swaps it only when the new
// cert and key load; the ticket keys stay the same across reloads.
class TlsServerContextSlot {
 public:
  explicit TlsServerContextSlot(std::shared_ptr<TicketKeys> ticket_keys = nullptr);

  // "" when `config` is now served; else why not, and the previous context stays.
  std::string reload(const TlsConfig& config);
  std::shared_ptr<const TlsServerContext> current() const;
  TicketKeys& ticket_keys() const noexcept { return *ticket_keys_; }

 private:
  std::shared_ptr<TicketKeys> ticket_keys_;
  mutable std::mutex mutex_;
  std::shared_ptr<const TlsServerContext> current_;
};

// The last resumable session of each upstream endpoint, offered to every new connection to it
// until the endpoint refuses it (then the full handshake brings a new one). Thread-safe; entries
// have stable addresses (one per endpoint, never erased) so that an SSL can point at its own.
class TlsSessionCache {
 public:
  struct Entry {
    SslSessionPtr session;  // guarded by the cache's mutex
  };

  Entry& entry(const std::string& endpoint);
  SslSessionPtr get(const Entry& entry) const;  // a copy for one SSL; nullptr when none
  void put(Entry& entry, SSL_SESSION* session);
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// TLS to one color's upstreams: verification against `ca` (or the system store) and the expected
// name, and session reuse per endpoint.
class TlsClientContext {
  struct Private {};

 public:
  // `alpn`: the one application protocol offered ("http/1.1", or "h2" for an HTTP/2 upstream).
  static TlsBuilt<TlsClientContext> create(const BackendTlsConfig& config,
                                           std::string_view alpn = "http/1.1");

  TlsClientContext(Private, SslCtxPtr ctx, const BackendTlsConfig& config);
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // In connect state for `endpoint`: SNI and the verified name (server_name, else the endpoint's
  // host; an IP address is matched against the certificate's IP entries and sends no SNI), and
  // the endpoint's last session offered for resumption. nullptr when out of memory.
  SslPtr new_ssl(const Address& endpoint) const;
  std::string_view expected_name(const Address& endpoint) const;
  const TlsSessionCache& sessions() const noexcept { return *sessions_; }
  SSL_CTX* native_handle() const noexcept { return ctx_.get(); }

 private:
  static int new_session(SSL* ssl, SSL_SESSION* session);
  bool configure(SSL& ssl, const Address& endpoint) const;

  SslCtxPtr ctx_;
  std::string server_name_;
  bool verify_ = true;
  std::unique_ptr<TlsSessionCache> sessions_;  // written from const handshakes
};

}  // namespace bgp
