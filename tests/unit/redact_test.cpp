#include "codecs/url.hpp"

#include <gtest/gtest.h>

namespace {

using uringmig::codecs::redact;

TEST(redact, url_userinfo) {
  EXPECT_EQ(redact("postgresql://app:hunter2@db:5432/x"), "postgresql://app:****@db:5432/x");
  EXPECT_EQ(redact("doris://root:pw@fe:8030/db?be=b:8040"),
            "doris://root:****@fe:8030/db?be=b:8040");
  EXPECT_EQ(redact("connecting to 'postgres://a:b@h/db' failed"),
            "connecting to 'postgres://a:****@h/db' failed");
}

TEST(redact, several_urls_in_one_line) {
  EXPECT_EQ(redact("from postgresql://a:one@h1/db to postgresql://b:two@h2/db"),
            "from postgresql://a:****@h1/db to postgresql://b:****@h2/db");
}

TEST(redact, url_password_with_unencoded_specials) {
  EXPECT_EQ(redact("postgresql://u:pa/ss@h/db"), "postgresql://u:****@h/db");
  EXPECT_EQ(redact("postgresql://u:p@ss@h/db"), "postgresql://u:****@h/db");
  EXPECT_EQ(redact("postgresql://u:pa?ss@h/db"), "postgresql://u:****@h/db");
}

TEST(redact, url_without_password_is_unchanged) {
  for (const char* s :
       {"postgresql://app@db:5432/x", "postgresql://db:5432/x?application_name=a@b",
        "sqlite:///tmp/x.db", "http://fe:8030/api/db/t/_stream_load", "postgresql://u:@h/db"}) {
    EXPECT_EQ(redact(s), s);
  }
}

TEST(redact, conninfo_forms) {
  EXPECT_EQ(redact("host=h password=hunter2 user=u"), "host=h password=**** user=u");
  EXPECT_EQ(redact("password='se cret' dbname=x"), "password=**** dbname=x");
  EXPECT_EQ(redact("password = 'it\\'s secret' port=1"), "password = **** port=1");
  EXPECT_EQ(redact("user=u password=\"a b\""), "user=u password=****");
  EXPECT_EQ(redact("sslpassword=k3y sslmode=verify-full"), "sslpassword=**** sslmode=verify-full");
  EXPECT_EQ(redact("PASSWORD=X"), "PASSWORD=****");
  EXPECT_EQ(redact("PGPASSWORD=hunter2 psql"), "PGPASSWORD=**** psql");
}

TEST(redact, unterminated_quote_masks_to_the_end) {
  EXPECT_EQ(redact("password='oops host=h"), "password=****");
}

TEST(redact, query_parameters) {
  EXPECT_EQ(redact("postgresql://h/db?password=hunter2&sslmode=require"),
            "postgresql://h/db?password=****&sslmode=require");
  EXPECT_EQ(redact("postgresql://h/db?sslmode=require&password=hunter2"),
            "postgresql://h/db?sslmode=require&password=****");
  EXPECT_EQ(redact("x?sslpassword=abc#frag"), "x?sslpassword=****#frag");
}

TEST(redact, json_field) {
  EXPECT_EQ(redact(R"({"user":"u","password":"hunter2","db":"x"})"),
            R"({"user":"u","password":"****","db":"x"})");
}

TEST(redact, prose_about_passwords_is_kept) {
  const std::string s = "FATAL:  password authentication failed for user \"app\"";
  EXPECT_EQ(redact(s), s);
  EXPECT_EQ(redact("passwords=0 mypasswordfile"), "passwords=0 mypasswordfile");
}

TEST(redact, is_idempotent) {
  const std::string once = redact("postgresql://u:p@h/db?password=x host=h password='a b'");
  EXPECT_EQ(once, "postgresql://u:****@h/db?password=**** host=h password=****");
  EXPECT_EQ(redact(once), once);
}

}  // namespace

namespace {

std::string scrubbed(std::string text) {
  uringmig::codecs::scrub_secrets(std::span<char>(text.data(), text.size()));
  return text;
}

TEST(scrub_secrets, overwrites_what_redact_masks_in_place) {
  EXPECT_EQ(scrubbed("--source=postgresql://app:hunter2@db/x"),
            "--source=postgresql://app:xxxxxxx@db/x");
  EXPECT_EQ(scrubbed("doris://root:p/w@fe:8030/db?be=b:1"), "doris://root:xxx@fe:8030/db?be=b:1");
  EXPECT_EQ(scrubbed("host=h password='a b' user=u"), "host=h password=xxxxx user=u");
  EXPECT_EQ(scrubbed("postgresql://h/db?sslmode=require&password=pw"),
            "postgresql://h/db?sslmode=require&password=xx");
  EXPECT_EQ(scrubbed("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
  std::string arg = "postgresql://a:one@h/db";
  EXPECT_TRUE(uringmig::codecs::scrub_secrets(std::span<char>(arg.data(), arg.size())));
  std::string plain = "--jobs";
  EXPECT_FALSE(uringmig::codecs::scrub_secrets(std::span<char>(plain.data(), plain.size())));
}

}  // namespace
