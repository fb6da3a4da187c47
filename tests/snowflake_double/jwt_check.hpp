#pragma once

// The double's own check of a key-pair JWT (OpenSSL directly, nothing shared with the
// connector it tests): RS256 signature with the registered public key, then the claims
// (shared/reference/snowflake-sql-api.md, "Key-pair JWT").

#include <cstdint>
#include <string>

namespace uringmig::test::snowflake_double {

enum class jwt_verdict { ok, malformed, bad_signature, bad_claims, expired };

/// "SHA256:" + base64 of the SHA-256 of the key's DER SubjectPublicKeyInfo.
std::string public_key_fingerprint(const std::string& public_pem);

/// `token` signed by the key of `public_pem`, alg RS256, iss = ACCOUNT.USER.<fingerprint>,
/// sub = ACCOUNT.USER, iat not in the future (60 s of skew), exp after `now`, exp - iat <= 1 h.
jwt_verdict check_jwt(const std::string& token, const std::string& public_pem,
                      const std::string& fingerprint, const std::string& account,
                      const std::string& user, std::int64_t now);

}  // namespace uringmig::test::snowflake_double
