// Voicemail URI templates: {user} expansion and configuration-time validation.

#include "routing/voicemail.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sipws::routing {
namespace {

TEST(Voicemail, ExpandReplacesEveryUserToken) {
  EXPECT_EQ(expand_voicemail("sip:vm-{user}@vm.example.com", "1001"), "sip:vm-1001@vm.example.com");
  EXPECT_EQ(expand_voicemail("sip:{user}@vm.example.com;mailbox={user}", "alice"),
            "sip:alice@vm.example.com;mailbox=alice");
  EXPECT_EQ(expand_voicemail("{user}{user}", "ab"), "abab");
  EXPECT_EQ(expand_voicemail("sip:vm.example.com", "1001"), "sip:vm.example.com");
  EXPECT_EQ(expand_voicemail("", "1001"), "");
  EXPECT_EQ(expand_voicemail("sip:{user}@h", ""), "sip:@h");
  // Not recursive: a user that looks like the token is inserted as it is, once.
  EXPECT_EQ(expand_voicemail("sip:{user}@h", "{user}"), "sip:{user}@h");
  // Near-misses are left alone.
  EXPECT_EQ(expand_voicemail("sip:{User}{user@h", "x"), "sip:{User}{user@h");
}

TEST(Voicemail, ValidTemplates) {
  for (const char* t :
       {"sip:vm-{user}@vm.example.com", "sips:{user}@vm.example.com:5061",
        "sip:voicemail@10.0.0.5;transport=tcp;mailbox={user}", "SIP:{user}@vm.example.com"}) {
    EXPECT_EQ(validate_voicemail_template(t), std::nullopt) << t;
  }
}

TEST(Voicemail, InvalidTemplatesSayWhy) {
  auto err = validate_voicemail_template("sip:voicemail@vm.example.com");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("has no {user}"), std::string::npos) << *err;

  for (const char* t :
       {"tel:{user}", "http://vm.example.com/{user}", "sip:{user}@", "sip:{user}@vm example.com",
        "{user}", "sip:{user}@vm.example.com:99999", "<sip:{user}@vm.example.com>"}) {
    err = validate_voicemail_template(t);
    ASSERT_TRUE(err) << t;
    EXPECT_NE(err->find("is not a sip: or sips: URI"), std::string::npos) << *err;
    EXPECT_NE(err->find("1001"), std::string::npos) << *err;  // shows the expanded sample
  }
  EXPECT_TRUE(validate_voicemail_template(""));
}

TEST(Voicemail, TemplatesValidationNamesTheFieldAndAllowsEmptyOnes) {
  VoicemailTemplates t;
  EXPECT_EQ(validate_voicemail_templates(t), std::nullopt);  // voicemail off
  t.busy = "sip:vm-{user}@vm.example.com";
  EXPECT_EQ(validate_voicemail_templates(t), std::nullopt);
  t.no_answer = "sip:vm@vm.example.com";
  auto err = validate_voicemail_templates(t);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->rfind("no_answer: ", 0), 0u) << *err;
  t.no_answer.clear();
  t.unconditional = "tel:{user}";
  err = validate_voicemail_templates(t);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->rfind("unconditional: ", 0), 0u) << *err;
}

}  // namespace
}  // namespace sipws::routing
