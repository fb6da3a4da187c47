#include "connectors/snowflake/auth.hpp"

#include "codecs/json_text.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

namespace uringmig::connectors::snowflake {

namespace {

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

/// OpenSSL's last error as text; never holds key material.
std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};

int passphrase_cb(char* buf, int size, int, void* u) {
  const auto* pass = static_cast<const std::string_view*>(u);
  if (pass == nullptr || pass->empty()) return 0;
  const auto n = std::min<std::size_t>(pass->size(), static_cast<std::size_t>(size));
  std::memcpy(buf, pass->data(), n);
  return static_cast<int>(n);
}

/// Overwrites a secret before its memory goes back.
void wipe(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i)
    p[i] = 0;
  s.clear();
}

}  // namespace

private_key private_key::from_pem(std::string_view pem, std::string_view passphrase) {
  std::unique_ptr<BIO, bio_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::runtime_error("OpenSSL: out of memory");
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, &passphrase_cb, &passphrase);
  if (k == nullptr) {
    throw std::runtime_error(
        "not a PEM private key, or its passphrase is missing or wrong (OpenSSL: " +
        openssl_error() + ")");
  }
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
    EVP_PKEY_free(k);
    throw std::runtime_error("not an RSA key (Snowflake key-pair auth signs with RS256)");
  }
  return private_key(k);
}

private_key private_key::load(const std::string& path, const std::string& passphrase_env) {
  const std::string where = "Snowflake private key file " + path + ": ";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(where + std::strerror(errno) +
                             " (set [snowflake] private_key_file to the PEM key)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string pem = text.str();
  std::string pass;
  if (!passphrase_env.empty()) {
    const char* v = std::getenv(passphrase_env.c_str());
    if (v == nullptr) {
      wipe(pem);
      throw std::runtime_error(where + "the environment variable " + passphrase_env +
                               " that should hold its passphrase is not set");
    }
    pass = v;
  }
  try {
    private_key k = from_pem(pem, pass);
    wipe(pem);
    wipe(pass);
    return k;
  } catch (const std::exception& e) {
    wipe(pem);
    wipe(pass);
    throw std::runtime_error(where + e.what());
  }
}

private_key::private_key(private_key&& o) noexcept : key_(std::exchange(o.key_, nullptr)) {}

private_key& private_key::operator=(private_key&& o) noexcept {
  if (this != &o) {
    EVP_PKEY_free(key_);
    key_ = std::exchange(o.key_, nullptr);
  }
  return *this;
}

private_key::~private_key() {
  EVP_PKEY_free(key_);
}

std::string private_key::public_key_fingerprint() const {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key_, &der);
  if (len <= 0) throw std::runtime_error("OpenSSL: cannot encode the public key");
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(len), digest);
  OPENSSL_free(der);
  return "SHA256:" + base64(digest, sizeof digest);
}

std::string private_key::public_key_pem() const {
  std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_) != 1)
    throw std::runtime_error("OpenSSL: cannot write the public key");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string private_key::sign_rs256(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) throw std::runtime_error("OpenSSL: out of memory");
  std::size_t len = 0;
  std::string sig;
  const bool ok =
      EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) == 1 &&
      (sig.resize(len), true) &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("OpenSSL: signing the JWT failed: " + openssl_error());
  sig.resize(len);
  return sig;
}

std::string base64url(std::string_view bytes) {
  std::string s = base64(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  while (!s.empty() && s.back() == '=')
    s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

std::string jwt_account(std::string_view account_identifier) {
  std::string out(account_identifier.substr(0, account_identifier.find('.')));
  for (char& c : out)
    c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
  return out;
}

jwt_claims make_claims(std::string_view account_identifier, std::string_view user,
                       const std::string& fingerprint, std::int64_t now_s,
                       std::chrono::seconds lifetime) {
  std::string u(user);
  for (char& c : u)
    c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
  const std::string qualified = jwt_account(account_identifier) + "." + u;
  jwt_claims c;
  c.iss = qualified + "." + fingerprint;
  c.sub = qualified;
  c.iat = now_s;
  c.exp = now_s + std::min<std::int64_t>(lifetime.count(), 3600);
  return c;
}

std::string sign_jwt(const private_key& key, const jwt_claims& claims) {
  const std::string header = R"({"alg":"RS256","typ":"JWT"})";
  std::string payload = "{\"iss\":";
  codecs::append_json_string(payload, claims.iss);
  payload += ",\"sub\":";
  codecs::append_json_string(payload, claims.sub);
  payload +=
      ",\"iat\":" + std::to_string(claims.iat) + ",\"exp\":" + std::to_string(claims.exp) + "}";
  std::string signing_input = base64url(header) + "." + base64url(payload);
  const std::string sig = key.sign_rs256(signing_input);
  return signing_input + "." + base64url(sig);
}

token_source::token_source(const auth_settings& s, std::string account_identifier, std::string user)
    : account_(std::move(account_identifier)),
      user_(std::move(user)),
      lifetime_(std::min(s.jwt_lifetime, std::chrono::seconds(3600))),
      renew_before_(s.renew_before) {
  if (!s.oauth_token.empty() && !s.private_key_file.empty()) {
    throw std::runtime_error(
        "Snowflake: both an OAuth token and a private key file are set; keep one");
  }
  if (!s.oauth_token.empty()) {
    token_ = s.oauth_token;
    return;
  }
  if (s.private_key_file.empty()) {
    throw std::runtime_error(
        "Snowflake: no credentials (set [snowflake] private_key_file for key-pair auth, or an "
        "OAuth token)");
  }
  key_ = std::make_unique<private_key>(private_key::load(s.private_key_file, s.passphrase_env));
  fingerprint_ = key_->public_key_fingerprint();
  if (renew_before_ >= lifetime_) renew_before_ = lifetime_ / 2;
}

const std::string& token_source::token(std::chrono::system_clock::time_point now) {
  if (!key_) return token_;
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (token_.empty() || now_s + renew_before_.count() >= exp_) {
    const jwt_claims c = make_claims(account_, user_, fingerprint_, now_s, lifetime_);
    token_ = sign_jwt(*key_, c);
    exp_ = c.exp;
  }
  return token_;
}

bool token_source::renew() {
  if (!key_) return false;
  token_.clear();
  exp_ = 0;
  return true;
}

}  // namespace uringmig::connectors::snowflake
