// Certificates made at test time with the OpenSSL API (P-256 keys, self-signed): no key material
// in the repository and no openssl command needed.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

namespace bgp::testing {

struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

namespace certs_detail {

template <auto Free>
struct Freer {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

inline void require(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificate: ") + what);
}

inline std::string pem_of(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

inline void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Freer<&X509_EXTENSION_free>> extension(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  require(extension && X509_add_ext(cert, extension.get(), -1) == 1, "extension");
}

}  // namespace certs_detail

// A self-signed P-256 certificate for `common_name`, also valid for localhost and 127.0.0.1,
// from `not_before` to `not_after` relative to now.
inline TestCertificate make_certificate(const std::string& common_name,
                                        std::chrono::seconds not_before = -std::chrono::hours(1),
                                        std::chrono::seconds not_after = std::chrono::hours(24)) {
  using namespace certs_detail;
  std::unique_ptr<EVP_PKEY, Freer<&EVP_PKEY_free>> key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, Freer<&X509_free>> cert(X509_new());
  require(key && cert, "allocation");
  long serial = 0;  // random: two certificates with one name stay apart
  require(RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) == 1, "serial");
  require(X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
              ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial & 0x7fffffffL) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before.count()) != nullptr &&
              X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after.count()) != nullptr &&
              X509_set_pubkey(cert.get(), key.get()) == 1,
          "fields");
  X509_NAME* name = X509_get_subject_name(cert.get());
  require(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                     -1, -1, 0) == 1 &&
              X509_set_issuer_name(cert.get(), name) == 1,
          "name");
  const std::string alt_names = "DNS:" + common_name + ",DNS:localhost,IP:127.0.0.1";
  add_extension(cert.get(), NID_subject_alt_name, alt_names.c_str());
  require(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "signature");

  std::unique_ptr<BIO, Freer<&BIO_free>> cert_bio(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, Freer<&BIO_free>> key_bio(BIO_new(BIO_s_mem()));
  require(cert_bio && key_bio && PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1 &&
              PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) == 1,
          "PEM");
  return {pem_of(cert_bio.get()), pem_of(key_bio.get())};
}

// A directory removed with everything in it at the end of the test.
class CertDir {
 public:
  CertDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "bgproxy-tls-XXXXXX").string();
    require_dir(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~CertDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  CertDir(const CertDir&) = delete;
  CertDir& operator=(const CertDir&) = delete;

  std::string write(const std::string& name, const std::string& content) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file.string();
  }
  // Writes NAME.crt and NAME.key; returns the path without the extension.
  std::string write(const std::string& name, const TestCertificate& certificate) const {
    write(name + ".crt", certificate.cert_pem);
    write(name + ".key", certificate.key_pem);
    return (path_ / name).string();
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  static void require_dir(bool ok) {
    if (!ok) throw std::runtime_error("test certificate: cannot make a temporary directory");
  }
  std::filesystem::path path_;
};

}  // namespace bgp::testing
