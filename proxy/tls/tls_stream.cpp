#include "proxy/tls/tls_stream.h"

#include <sys/socket.h>

#include <cerrno>
#include <new>

#include <openssl/err.h>
#include <boost/asio/error.hpp>

namespace bgp {
namespace {

namespace net = boost::asio;

class TlsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bgproxy.tls"; }
  std::string message(int value) const override {
    switch (static_cast<TlsErrc>(value)) {
      case TlsErrc::protocol_version:
        return "no TLS version in common";
      case TlsErrc::no_shared_cipher:
        return "no cipher suite or group in common";
      case TlsErrc::no_alpn:
        return "no application protocol (ALPN) in common";
      case TlsErrc::bad_certificate:
        return "certificate refused";
      case TlsErrc::not_tls:
        return "not a TLS client";
      case TlsErrc::handshake_failed:
        return "TLS handshake failed";
      case TlsErrc::truncated:
        return "TLS connection closed without close_notify";
      case TlsErrc::protocol_error:
        return "TLS protocol error";
    }
    return "unknown TLS error";
  }
};

// OpenSSL's handshake reasons, sorted into the few a metric can carry.
TlsErrc handshake_reason(int reason) noexcept {
  switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_WRONG_SSL_VERSION:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return TlsErrc::protocol_version;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_CIPHERS_AVAILABLE:
      return TlsErrc::no_shared_cipher;
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
      return TlsErrc::no_alpn;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      return TlsErrc::bad_certificate;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
      return TlsErrc::not_tls;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return TlsErrc::truncated;
    default:
      return TlsErrc::handshake_failed;
  }
}

// Reads and writes the descriptor with recv/send: send's MSG_NOSIGNAL keeps a peer's reset from
// raising SIGPIPE, which OpenSSL's own socket BIO (write(2)) would.
int bio_read(BIO* bio, char* out, int size) {
  BIO_clear_retry_flags(bio);
  const auto fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
  const ssize_t n = ::recv(fd, out, static_cast<std::size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  return static_cast<int>(n);
}

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const auto fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
  const ssize_t n = ::send(fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

long bio_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH:  // nothing is held back
      return 1;
    case BIO_C_GET_FD:
      return static_cast<long>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
    default:
      return 0;
  }
}

using BioMethodPtr = std::unique_ptr<BIO_METHOD, OpenSslFree<&BIO_meth_free>>;

BioMethodPtr make_socket_method() {
  BioMethodPtr method(BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "bgproxy socket"));
  if (!method || BIO_meth_set_read(method.get(), bio_read) != 1 ||
      BIO_meth_set_write(method.get(), bio_write) != 1 ||
      BIO_meth_set_ctrl(method.get(), bio_ctrl) != 1) {
    throw std::bad_alloc();
  }
  return method;
}

// Built once and never changed afterwards: a table of function pointers.
const BIO_METHOD& socket_method() {
  static const BioMethodPtr method = make_socket_method();
  return *method;
}

BIO* socket_bio(int fd) {
  BIO* bio = BIO_new(&socket_method());
  if (bio == nullptr) throw std::bad_alloc();
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  BIO_set_init(bio, 1);
  return bio;
}

SslPtr checked(SslPtr ssl) {
  if (!ssl) throw std::bad_alloc();
  return ssl;
}

}  // namespace

const boost::system::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

HandshakeFailure classify_handshake_failure(const boost::system::error_code& ec) noexcept {
  if (ec.category() == tls_category()) {
    switch (static_cast<TlsErrc>(ec.value())) {
      case TlsErrc::protocol_version:
        return HandshakeFailure::protocol_version;
      case TlsErrc::no_shared_cipher:
        return HandshakeFailure::no_shared_cipher;
      case TlsErrc::no_alpn:
        return HandshakeFailure::no_alpn;
      case TlsErrc::bad_certificate:
        return HandshakeFailure::bad_certificate;
      case TlsErrc::not_tls:
        return HandshakeFailure::not_tls;
      case TlsErrc::truncated:
        return HandshakeFailure::closed;
      default:
        return HandshakeFailure::other;
    }
  }
  if (ec == net::error::operation_aborted || ec == net::error::timed_out) {
    return HandshakeFailure::timeout;
  }
  if (ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe) {
    return HandshakeFailure::closed;
  }
  return HandshakeFailure::other;
}

TlsStream TlsStream::server(Socket socket, std::shared_ptr<const TlsServerContext> context) {
  SslPtr ssl = checked(context->new_ssl());
  return TlsStream(std::move(socket), std::move(ssl), std::move(context));
}

TlsStream TlsStream::client(Socket socket, std::shared_ptr<const TlsClientContext> context,
                            const Address& endpoint) {
  SslPtr ssl = checked(context->new_ssl(endpoint));
  return TlsStream(std::move(socket), std::move(ssl), std::move(context));
}

TlsStream::TlsStream(Socket socket, SslPtr ssl, std::shared_ptr<const void> owner)
    : socket_(std::move(socket)), owner_(std::move(owner)), ssl_(checked(std::move(ssl))) {
  error_code ignored;
  socket_.native_non_blocking(true, ignored);  // OpenSSL's recv/send must not block the worker
  BIO* bio = socket_bio(socket_.native_handle());
  SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns the BIO; the socket owns the descriptor
}

// The old SSL is freed first, while its owner and its descriptor still exist.
TlsStream& TlsStream::operator=(TlsStream&& other) noexcept {
  ssl_ = std::move(other.ssl_);
  owner_ = std::move(other.owner_);
  socket_ = std::move(other.socket_);
  error_detail_ = std::move(other.error_detail_);
  fatal_ = other.fatal_;
  return *this;
}

bool TlsStream::has_buffered_input() const noexcept {
  return SSL_has_pending(ssl_.get()) == 1;
}

bool TlsStream::read_returns_at_once() noexcept {
  if (SSL_pending(ssl_.get()) > 0) return true;
  if (fatal_ || SSL_in_init(ssl_.get()) == 1) return false;
  ERR_clear_error();
  char byte = 0;
  std::size_t peeked = 0;
  const int result = SSL_peek_ex(ssl_.get(), &byte, 1, &peeked);
  if (result == 1) return true;
  const int error = SSL_get_error(ssl_.get(), result);
  return error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE;  // the end, or a failure
}

bool TlsStream::release_buffers() noexcept {
  // Never with data pending: OpenSSL before 3.0.14 frees it and reads freed memory (CVE-2024-4741).
  if (SSL_pending(ssl_.get()) > 0) return false;
  return SSL_free_buffers(ssl_.get()) == 1;
}

std::string_view TlsStream::alpn() const noexcept {
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &size);
  return data != nullptr ? std::string_view(reinterpret_cast<const char*>(data), size)
                         : std::string_view();
}

std::string_view TlsStream::sni() const noexcept {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

bool TlsStream::resumed() const noexcept {
  return SSL_session_reused(ssl_.get()) == 1;
}

TlsStream::Progress TlsStream::handshake_step() {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_.get());
  return outcome(result, 0, errno, Phase::handshake);
}

TlsStream::Progress TlsStream::read_step(void* data, std::size_t size) {
  if (size == 0) return {};
  ERR_clear_error();
  std::size_t read = 0;
  const int result = SSL_read_ex(ssl_.get(), data, size, &read);
  return outcome(result, read, errno, Phase::data);
}

TlsStream::Progress TlsStream::write_step(const void* data, std::size_t size) {
  if (size == 0) return {};
  ERR_clear_error();
  std::size_t written = 0;
  const int result = SSL_write_ex(ssl_.get(), data, size, &written);
  return outcome(result, written, errno, Phase::data);
}

TlsStream::Progress TlsStream::shutdown_step() {
  if (fatal_ || SSL_in_init(ssl_.get()) == 1) return {};
  ERR_clear_error();
  const int result = SSL_shutdown(ssl_.get());  // 0: ours sent; 1: theirs received too
  if (result >= 0) return {};
  return outcome(0, 0, errno, Phase::data);
}

TlsStream::Progress TlsStream::outcome(int result, std::size_t bytes, int saved_errno,
                                       Phase phase) {
  if (result == 1) return {Want::nothing, {}, bytes};
  switch (SSL_get_error(ssl_.get(), result)) {
    case SSL_ERROR_WANT_READ:
      return {Want::read, {}, 0};
    case SSL_ERROR_WANT_WRITE:
      return {Want::write, {}, 0};
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
      return {Want::nothing, net::error::eof, 0};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        fatal_ = true;
        error_detail_.clear();
        return {Want::nothing,
                saved_errno != 0 ? error_code(saved_errno, boost::system::system_category())
                                 : error_code(TlsErrc::truncated),
                0};
      }
      [[fallthrough]];
    default:
      return {Want::nothing, failure(phase), 0};
  }
}

TlsStream::error_code TlsStream::failure(Phase phase) {
  fatal_ = true;
  const unsigned long code = ERR_peek_last_error();
  const int reason = ERR_GET_REASON(code);
  TlsErrc errc = handshake_reason(reason);
  if (phase == Phase::data && errc == TlsErrc::handshake_failed) errc = TlsErrc::protocol_error;
  const char* text = code != 0 ? ERR_reason_error_string(code) : nullptr;
  error_detail_ = text != nullptr ? text : make_error_code(errc).message();
  const long verify = SSL_get_verify_result(ssl_.get());
  if (errc == TlsErrc::bad_certificate && verify != X509_V_OK) {
    error_detail_ += ": ";
    error_detail_ += X509_verify_cert_error_string(verify);
  }
  ERR_clear_error();
  return errc;
}

}  // namespace bgp
