#include "tests/snowflake_double/jwt_check.hpp"

#include "codecs/json_reader.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <optional>

namespace uringmig::test::snowflake_double {

namespace {

std::optional<std::string> b64url_decode(std::string s) {
  for (char& c : s) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt;
  }
  const std::size_t pad = (4 - s.size() % 4) % 4;
  if (pad == 3) return std::nullopt;
  s.append(pad, '=');
  std::string out(s.size(), '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

EVP_PKEY* read_public(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PUBKEY(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return k;
}

std::optional<std::int64_t> number(const codecs::json::object& o, const char* key) {
  const codecs::json::value* v = o.find(key);
  if (v == nullptr || v->kind != codecs::json::kind::number) return std::nullopt;
  return std::strtoll(v->text.c_str(), nullptr, 10);
}

}  // namespace

std::string public_key_fingerprint(const std::string& public_pem) {
  EVP_PKEY* k = read_public(public_pem);
  if (k == nullptr) return {};
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(k, &der);
  EVP_PKEY_free(k);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(len), md);
  OPENSSL_free(der);
  std::string b64(64, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), md, sizeof md);
  b64.resize(static_cast<std::size_t>(n));
  return "SHA256:" + b64;
}

jwt_verdict check_jwt(const std::string& token, const std::string& public_pem,
                      const std::string& fingerprint, const std::string& account,
                      const std::string& user, std::int64_t now) {
  const auto d1 = token.find('.');
  const auto d2 = token.rfind('.');
  if (d1 == std::string::npos || d1 == d2) return jwt_verdict::malformed;
  const auto head = b64url_decode(token.substr(0, d1));
  const auto body = b64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  const auto sig = b64url_decode(token.substr(d2 + 1));
  if (!head || !body || !sig) return jwt_verdict::malformed;
  const auto h = codecs::json::read_object(*head);
  const auto c = codecs::json::read_object(*body);
  if (!h || !c) return jwt_verdict::malformed;
  const codecs::json::value* alg = h.value->find("alg");
  if (alg == nullptr || alg->text != "RS256") return jwt_verdict::bad_signature;
  EVP_PKEY* k = read_public(public_pem);
  if (k == nullptr) return jwt_verdict::bad_signature;
  const std::string input = token.substr(0, d2);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool good =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, k) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(k);
  if (!good) return jwt_verdict::bad_signature;
  const std::string qualified = account + "." + user;
  const codecs::json::value* iss = c.value->find("iss");
  const codecs::json::value* sub = c.value->find("sub");
  const auto iat = number(*c.value, "iat");
  const auto exp = number(*c.value, "exp");
  if (iss == nullptr || iss->text != qualified + "." + fingerprint || sub == nullptr ||
      sub->text != qualified || !iat || !exp || *iat > now + 60 || *exp - *iat > 3600)
    return jwt_verdict::bad_claims;
  if (*exp <= now) return jwt_verdict::expired;
  return jwt_verdict::ok;
}

}  // namespace uringmig::test::snowflake_double
