#include "connectors/snowflake/auth.hpp"
#include "connectors/snowflake/retry.hpp"
#include "connectors/snowflake/sql_api.hpp"

#include "codecs/json_reader.hpp"
#include "tests/support/temp_dir.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

namespace sn = uringmig::connectors::snowflake;
namespace http = uringmig::connectors::http;

namespace {

/// A fresh 2048-bit RSA key as PKCS#8 PEM, encrypted when `pass` is not empty.
std::string make_key_pem(const std::string& pass = {}) {
  EVP_PKEY* k = EVP_RSA_gen(2048);
  EXPECT_NE(k, nullptr);
  BIO* b = BIO_new(BIO_s_mem());
  const EVP_CIPHER* cipher = pass.empty() ? nullptr : EVP_aes_256_cbc();
  EXPECT_EQ(PEM_write_bio_PKCS8PrivateKey(b, k, cipher, pass.empty() ? nullptr : pass.data(),
                                          static_cast<int>(pass.size()), nullptr, nullptr),
            1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(b);
  EVP_PKEY_free(k);
  return pem;
}

std::string b64url_decode(std::string s) {
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4 != 0)
    s.push_back('=');
  std::string out(s.size(), '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  EXPECT_GE(n, 0);
  out.resize(static_cast<std::size_t>(n) - (s.size() - s.find_last_not_of('=') - 1));
  return out;
}

/// Verifies an RS256 JWT with a public key PEM, independently of the signer.
bool verify_rs256(const std::string& jwt, const std::string& public_pem) {
  const auto d2 = jwt.rfind('.');
  const std::string input = jwt.substr(0, d2);
  const std::string sig = b64url_decode(jwt.substr(d2 + 1));
  BIO* b = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* pub = PEM_read_bio_PUBKEY(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      pub != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  return ok;
}

/// The fingerprint computed the way Snowflake's guide does it with the openssl tool:
/// `openssl rsa -pubout -outform DER | openssl dgst -sha256 -binary | openssl enc -base64`.
std::string reference_fingerprint(const std::string& public_pem) {
  BIO* b = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* pub = PEM_read_bio_PUBKEY(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pub, &der);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(len), md);
  OPENSSL_free(der);
  EVP_PKEY_free(pub);
  std::string out(64, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), md, sizeof md);
  out.resize(static_cast<std::size_t>(n));
  return "SHA256:" + out;
}

}  // namespace

TEST(SnowflakeAuth, JwtClaimsSignatureAndFingerprint) {
  const sn::private_key key = sn::private_key::from_pem(make_key_pem());
  const std::string fp = key.public_key_fingerprint();
  EXPECT_EQ(fp, reference_fingerprint(key.public_key_pem()));
  const sn::jwt_claims c =
      sn::make_claims("xy12345.eu-west-1.aws", "loader_1", fp, 1700000000, std::chrono::hours(2));
  EXPECT_EQ(c.sub, "XY12345.LOADER_1");
  EXPECT_EQ(c.iss, "XY12345.LOADER_1." + fp);
  EXPECT_EQ(c.iat, 1700000000);
  EXPECT_EQ(c.exp, 1700000000 + 3600) << "a JWT lives at most an hour";
  const std::string jwt = sn::sign_jwt(key, c);
  EXPECT_TRUE(verify_rs256(jwt, key.public_key_pem()));
  const auto dot = jwt.find('.');
  EXPECT_EQ(b64url_decode(jwt.substr(0, dot)), R"({"alg":"RS256","typ":"JWT"})");
  const auto payload = uringmig::codecs::json::read_object(
      b64url_decode(jwt.substr(dot + 1, jwt.rfind('.') - dot - 1)));
  ASSERT_TRUE(payload) << payload.error;
  EXPECT_EQ(payload.value->find("iss")->text, c.iss);
  EXPECT_EQ(payload.value->find("sub")->text, c.sub);
  EXPECT_EQ(payload.value->find("exp")->text, "1700003600");
  // A JWT signed by another key does not verify with this one.
  const sn::private_key other = sn::private_key::from_pem(make_key_pem());
  EXPECT_FALSE(verify_rs256(sn::sign_jwt(other, c), key.public_key_pem()));
  EXPECT_EQ(sn::jwt_account("myorg-acct"), "MYORG-ACCT");
}

TEST(SnowflakeAuth, TokensRenewBeforeExpiryAndAfterA401) {
  uringmig::test::temp_dir dir;
  const std::string path = (dir.path / "key.p8").string();
  std::ofstream(path) << make_key_pem("s3cret pass");
  ::setenv("URINGMIG_TEST_SF_PASS", "s3cret pass", 1);
  sn::auth_settings a;
  a.private_key_file = path;
  a.passphrase_env = "URINGMIG_TEST_SF_PASS";
  a.jwt_lifetime = std::chrono::seconds(600);
  a.renew_before = std::chrono::seconds(60);
  sn::token_source ts(a, "acct", "u");
  EXPECT_EQ(ts.type(), "KEYPAIR_JWT");
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  const std::string first = ts.token(t0);
  EXPECT_EQ(ts.expires_at(), 1700000600);
  EXPECT_EQ(ts.token(t0 + std::chrono::seconds(539)), first) << "still fresh";
  const std::string second = ts.token(t0 + std::chrono::seconds(540));
  EXPECT_NE(second, first) << "renewed a minute before expiry";
  EXPECT_EQ(ts.expires_at(), 1700000540 + 600);
  EXPECT_TRUE(ts.renew());
  EXPECT_NE(ts.token(t0 + std::chrono::seconds(541)), second);
}

TEST(SnowflakeAuth, KeyErrorsAreOneLineWithoutSecrets) {
  uringmig::test::temp_dir dir;
  const std::string path = (dir.path / "key.p8").string();
  std::ofstream(path) << make_key_pem("right-passphrase");
  auto message = [&](const sn::auth_settings& a) {
    try {
      sn::token_source ts(a, "acct", "u");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  sn::auth_settings a;
  a.private_key_file = (dir.path / "missing.p8").string();
  EXPECT_NE(message(a).find("missing.p8: No such file"), std::string::npos) << message(a);
  a.private_key_file = path;
  a.passphrase_env = "URINGMIG_TEST_SF_UNSET_VAR";
  ::unsetenv("URINGMIG_TEST_SF_UNSET_VAR");
  EXPECT_NE(message(a).find("URINGMIG_TEST_SF_UNSET_VAR"), std::string::npos);
  ::setenv("URINGMIG_TEST_SF_WRONG", "wrong-passphrase", 1);
  a.passphrase_env = "URINGMIG_TEST_SF_WRONG";
  const std::string wrong = message(a);
  EXPECT_NE(wrong.find("passphrase is missing or wrong"), std::string::npos) << wrong;
  EXPECT_EQ(wrong.find("wrong-passphrase"), std::string::npos);
  EXPECT_EQ(wrong.find('\n'), std::string::npos);
  sn::auth_settings none;
  EXPECT_NE(message(none).find("private_key_file"), std::string::npos);
  sn::auth_settings oauth;
  oauth.oauth_token = "tok-123";
  sn::token_source ts(oauth, "acct", "u");
  EXPECT_EQ(ts.type(), "OAUTH");
  EXPECT_EQ(ts.token(), "tok-123");
  EXPECT_FALSE(ts.renew());
}

TEST(SnowflakeRetry, DecisionsForEveryAnswer) {
  const sn::retry_policy p{3, std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  http::http_response r;
  for (int status : {200, 202, 422}) {
    r.status = status;
    EXPECT_EQ(sn::decide(r, "x", 0, false, p, 0.5).step, sn::next_step::use);
  }
  r.status = 401;
  EXPECT_EQ(sn::decide(r, "x", 0, false, p, 0.5).step, sn::next_step::renew);
  r.body = R"({"code":"390144","message":"JWT token is invalid."})";
  const auto refused = sn::decide(r, "submitting", 0, true, p, 0.5);
  EXPECT_EQ(refused.step, sn::next_step::fail);
  EXPECT_NE(refused.message.find("JWT token is invalid."), std::string::npos) << refused.message;
  for (int status : {429, 503, 504}) {
    r.status = status;
    const auto d = sn::decide(r, "x", 1, false, p, 0.0);
    EXPECT_EQ(d.step, sn::next_step::retry);
    EXPECT_EQ(d.wait, std::chrono::milliseconds(100));  // half of the second step (200 ms)
    const auto last = sn::decide(r, "fetching", 2, false, p, 0.0);
    EXPECT_EQ(last.step, sn::next_step::fail);
    EXPECT_NE(last.message.find("after 3 attempts"), std::string::npos) << last.message;
  }
  r.status = 500;
  EXPECT_EQ(sn::decide(r, "x", 0, false, p, 0.5).step, sn::next_step::fail);
  r.status = 0;
  r.error = http::transport_error{56, "Recv failure: Connection reset by peer"};
  EXPECT_EQ(sn::decide(r, "x", 0, false, p, 0.5).step, sn::next_step::retry);
  EXPECT_EQ(sn::backoff(p, 10, 1.0, nullptr), std::chrono::milliseconds(1000));
  const std::string retry_after = "1";
  EXPECT_EQ(sn::backoff(p, 0, 0.0, &retry_after), std::chrono::milliseconds(1000));
  EXPECT_EQ(sn::first_line("\n  SELECT a\nFROM t"), "SELECT a …");
  EXPECT_EQ(sn::new_request_id().size(), 36U);
  EXPECT_NE(sn::new_request_id(), sn::new_request_id());
}
