#include "config/tls_files.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace bgp {
namespace {

using BioPtr = std::unique_ptr<BIO, OpenSslFree<&BIO_free_all>>;

struct FileText {
  std::optional<std::string> text;
  std::string error;
};

FileText read_file(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) return {std::nullopt, "it is a directory"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {std::nullopt, std::strerror(errno)};
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return {std::nullopt, "read error"};
  return {std::move(text), {}};
}

BioPtr memory_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every PEM certificate of `text`, in order; stops at the first block that is not one.
std::vector<X509Ptr> read_certificates(const std::string& text) {
  std::vector<X509Ptr> certificates;
  const BioPtr bio = memory_bio(text);
  while (bio) {
    X509Ptr certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!certificate) break;
    certificates.push_back(std::move(certificate));
  }
  ERR_clear_error();  // the read past the last block leaves "no start line"
  return certificates;
}

// Refuses to prompt for a passphrase: an encrypted key fails to load instead.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

EvpPkeyPtr read_private_key(const std::string& text) {
  const BioPtr bio = memory_bio(text);
  EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                     : nullptr);
  ERR_clear_error();
  return key;
}

std::string utc(std::int64_t seconds) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", fmt::gmtime(static_cast<std::time_t>(seconds)));
}

TlsLoaded<CertificateChain> load_key_for(CertificateChain chain, const std::string& key_path) {
  using Loaded = TlsLoaded<CertificateChain>;
  const auto text = read_file(key_path);
  if (!text.text) {
    return Loaded::fail(TlsFile::key, fmt::format("cannot read '{}': {}", key_path, text.error));
  }
  chain.key = read_private_key(*text.text);
  if (!chain.key) {
    const bool encrypted = text.text->find("ENCRYPTED") != std::string::npos;
    return Loaded::fail(TlsFile::key,
                        encrypted ? fmt::format("the key in '{}' is encrypted; bgproxy needs it "
                                                "without a passphrase",
                                                key_path)
                                  : fmt::format("'{}' holds no PEM private key", key_path));
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(chain.leaf.get()), chain.key.get()) != 1) {
    ERR_clear_error();
    return Loaded::fail(TlsFile::key,
                        fmt::format("the key in '{}' does not match the certificate", key_path));
  }
  return {std::move(chain), {}};
}

}  // namespace

std::optional<std::int64_t> not_after_seconds(const X509& certificate) {
  std::tm when{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(&certificate), &when) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&when));
}

TlsLoaded<CertificateChain> load_certificate_chain(const std::string& cert_path,
                                                   const std::string& key_path,
                                                   std::chrono::system_clock::time_point now) {
  using Loaded = TlsLoaded<CertificateChain>;
  const auto text = read_file(cert_path);
  if (!text.text) {
    return Loaded::fail(TlsFile::cert, fmt::format("cannot read '{}': {}", cert_path, text.error));
  }
  auto certificates = read_certificates(*text.text);
  if (certificates.empty()) {
    return Loaded::fail(TlsFile::cert, fmt::format("'{}' holds no PEM certificate", cert_path));
  }
  CertificateChain chain;
  chain.leaf = std::move(certificates.front());
  chain.intermediates.assign(std::make_move_iterator(certificates.begin() + 1),
                             std::make_move_iterator(certificates.end()));
  const auto not_after = not_after_seconds(*chain.leaf);
  if (!not_after) {
    return Loaded::fail(
        TlsFile::cert,
        fmt::format("the certificate in '{}' has an unreadable notAfter", cert_path));
  }
  chain.not_after = *not_after;
  const auto now_seconds = std::chrono::system_clock::to_time_t(now);
  if (chain.not_after < now_seconds) {
    return Loaded::fail(TlsFile::cert, fmt::format("the certificate in '{}' expired on {}",
                                                   cert_path, utc(chain.not_after)));
  }
  return load_key_for(std::move(chain), key_path);
}

TlsLoaded<std::vector<X509Ptr>> load_ca_file(const std::string& path) {
  using Loaded = TlsLoaded<std::vector<X509Ptr>>;
  const auto text = read_file(path);
  if (!text.text) {
    return Loaded::fail(TlsFile::ca, fmt::format("cannot read '{}': {}", path, text.error));
  }
  auto certificates = read_certificates(*text.text);
  if (certificates.empty()) {
    return Loaded::fail(TlsFile::ca, fmt::format("'{}' holds no PEM certificate", path));
  }
  return {std::move(certificates), {}};
}

}  // namespace bgp
