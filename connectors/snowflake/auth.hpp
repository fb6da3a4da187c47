#pragma once

// Signing in to the Snowflake SQL API: key-pair JWTs (RS256, signed with OpenSSL) or an OAuth
// token. Facts: shared/reference/snowflake-sql-api.md ("Key-pair JWT"). No secret (key,
// passphrase, token, JWT) ever appears in an error text or a log line.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace uringmig::connectors::snowflake {

/// What the engine fills from the job's settings (`[snowflake]`).
struct auth_settings {
  /// PEM private key (PKCS#8, encrypted or not, or PKCS#1 RSA) for key-pair auth.
  std::string private_key_file;
  /// The name of the environment variable that holds the key's passphrase; empty: none.
  std::string passphrase_env;
  /// An OAuth access token instead of a key pair (never both).
  std::string oauth_token;
  /// A JWT's life (`exp` - `iat`): at most one hour, Snowflake's limit.
  std::chrono::seconds jwt_lifetime{3600};
  /// A JWT is renewed this long before it expires.
  std::chrono::seconds renew_before{300};
};

/// An RSA private key, loaded once. Move-only.
class private_key {
 public:
  /// Reads a PEM file; the passphrase (if any) from the environment variable `passphrase_env`.
  /// Throws std::runtime_error with one line naming the file (never the passphrase).
  static private_key load(const std::string& path, const std::string& passphrase_env);
  /// From PEM text (tests).
  static private_key from_pem(std::string_view pem, std::string_view passphrase = {});

  private_key(private_key&&) noexcept;
  private_key& operator=(private_key&&) noexcept;
  ~private_key();

  /// "SHA256:" + base64 of the SHA-256 of the DER SubjectPublicKeyInfo: what
  /// `DESCRIBE USER` shows as RSA_PUBLIC_KEY_FP.
  std::string public_key_fingerprint() const;
  /// The public key as PEM (SubjectPublicKeyInfo), for a test server to verify with.
  std::string public_key_pem() const;
  /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over `data`.
  std::string sign_rs256(std::string_view data) const;

 private:
  explicit private_key(evp_pkey_st* k) : key_(k) {}
  evp_pkey_st* key_ = nullptr;
};

/// ACCOUNT as a JWT names it: upper case, cut at the first '.' (region and cloud dropped).
std::string jwt_account(std::string_view account_identifier);

/// The claims of a key-pair JWT.
struct jwt_claims {
  std::string iss;  // ACCOUNT.USER.SHA256:fingerprint
  std::string sub;  // ACCOUNT.USER
  std::int64_t iat = 0;
  std::int64_t exp = 0;
};
jwt_claims make_claims(std::string_view account_identifier, std::string_view user,
                       const std::string& fingerprint, std::int64_t now_s,
                       std::chrono::seconds lifetime);

/// header.payload.signature, each base64url without padding.
std::string sign_jwt(const private_key& key, const jwt_claims& claims);

/// base64url without padding (RFC 7515 §2).
std::string base64url(std::string_view bytes);

/// The bearer token of every request: a JWT renewed before it expires (and at once after a
/// 401), or the OAuth token as given.
class token_source {
 public:
  /// Key pair: loads the key now (throws a one-line error naming the file when it cannot).
  token_source(const auth_settings& s, std::string account_identifier, std::string user);

  /// The token to send at `now`: a fresh JWT when the current one is within `renew_before`
  /// of its expiry.
  const std::string& token(std::chrono::system_clock::time_point now);
  const std::string& token() { return token(std::chrono::system_clock::now()); }
  /// Drops the current JWT, so the next token() signs a new one (after a 401). False for an
  /// OAuth token: it cannot be renewed here.
  bool renew();
  /// `X-Snowflake-Authorization-Token-Type`: KEYPAIR_JWT or OAUTH.
  std::string_view type() const { return key_ ? "KEYPAIR_JWT" : "OAUTH"; }
  /// Expiry of the current JWT (seconds since the epoch); 0 before the first or for OAuth.
  std::int64_t expires_at() const { return exp_; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  std::unique_ptr<private_key> key_;
  std::string account_;
  std::string user_;
  std::string fingerprint_;
  std::chrono::seconds lifetime_;
  std::chrono::seconds renew_before_;
  std::string token_;
  std::int64_t exp_ = 0;
};

}  // namespace uringmig::connectors::snowflake
