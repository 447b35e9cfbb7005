// Call classes: the OpenSER/Kamailio PSTN dial plan (local / long distance / international /
// emergency) as data, first-match order, barred classes, reason phrases, length bound.

#include "routing/call_classes.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace sipws::routing {
namespace {

CallClass make_class(std::string name, std::string re, std::string group, bool emergency = false,
                     std::string reason = {}) {
  CallClass c;
  c.name = std::move(name);
  c.match_text = std::move(re);
  c.match = std::regex(c.match_text);
  c.group = std::move(group);
  c.emergency = emergency;
  c.reason = std::move(reason);
  return c;
}

// The PSTN chapter's dial plan (North American numbering).
CallClasses openser_plan() {
  return CallClasses({
      make_class("local", "^[2-9][0-9]{6}$", "local"),
      make_class("ld", "^1?[2-9][0-9]{9}$", "ld"),
      make_class("int", "^011[0-9]+$", "int"),
      make_class("emergency", "^(911|112)$", "", true),
  });
}

std::string what_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

struct DialCase {
  const char* number;
  std::vector<std::string> groups;
  bool allowed;
  const char* cls;  // expected deciding class, nullptr = none
};

TEST(CallClasses, OpenserDialPlanDecidesByFirstMatchingClassAndCallerGroups) {
  const CallClasses plan = openser_plan();
  const std::vector<std::string> all{"int", "ld", "local"};  // order is irrelevant
  const std::vector<DialCase> cases = {
      // local: 7 digits, first 2-9
      {"5551234", {"local"}, true, "local"},
      {"5551234", {}, false, "local"},
      {"5551234", {"ld", "int"}, false, "local"},  // ld does not imply local
      {"5551234", all, true, "local"},
      {"1234567", {}, true, nullptr},  // starts with 1: no class, allowed
      // long distance: 10 digits, optional leading 1
      {"2125551234", {"ld"}, true, "ld"},
      {"12125551234", {"ld"}, true, "ld"},
      {"12125551234", {"local"}, false, "ld"},
      {"2125551234", {"local", "int"}, false, "ld"},
      {"1125551234", {"ld"}, true, nullptr},  // area code starts with 1: no class
      // international
      {"01144201234567", {"int"}, true, "int"},
      {"011", {"int"}, true, nullptr},  // needs at least one digit after 011
      {"01144201234567", {"local", "ld"}, false, "int"},
      {"0115551234", {"local"}, false, "int"},
      // emergency: everyone, whatever the groups
      {"911", {}, true, "emergency"},
      {"112", {"local"}, true, "emergency"},
      {"9111", {}, true, nullptr},  // regex_match is on the whole number
      // not a PSTN number at all
      {"1001", {}, true, nullptr},
      {"alice", {}, true, nullptr},
      {"+442012345678", {}, true, nullptr},
      {"", {}, true, nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string("number '") + c.number + "'");
    const auto v = plan.check(c.number, c.groups);
    EXPECT_EQ(v.allowed, c.allowed);
    if (c.cls == nullptr) {
      EXPECT_EQ(v.cls, nullptr);
    } else {
      ASSERT_NE(v.cls, nullptr);
      EXPECT_EQ(v.cls->name, c.cls);
    }
    EXPECT_EQ(plan.classify(c.number), v.cls);
    if (c.allowed) {
      EXPECT_TRUE(v.reason.empty());
    } else {
      EXPECT_EQ(v.reason, "Forbidden - call class " + std::string(c.cls));
    }
  }
}

TEST(CallClasses, FirstMatchingClassWinsEvenIfALaterOneWouldAllow) {
  // A barred premium-rate class (no group) before long distance: ld callers cannot dial 1900.
  const CallClasses plan({
      make_class("premium", "^1?900[0-9]{7}$", "", false, "Premium numbers are barred"),
      make_class("ld", "^1?[2-9][0-9]{9}$", "ld"),
  });
  auto v = plan.check("19005551234", {"ld", "premium"});
  EXPECT_FALSE(v.allowed);  // a class without group refuses everyone, even a "premium" group
  ASSERT_NE(v.cls, nullptr);
  EXPECT_EQ(v.cls->name, "premium");
  EXPECT_EQ(v.reason, "Premium numbers are barred");
  v = plan.check("12125551234", {"ld"});
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.cls->name, "ld");
}

TEST(CallClasses, EmergencyBeforeBroaderClassesStillAllowsEveryone) {
  // 911 would also match a catch-all 3-digit service class placed after it.
  const CallClasses plan({
      make_class("emergency", "911", "", true),
      make_class("service", "[0-9]{3}", "svc"),
  });
  EXPECT_TRUE(plan.check("911", {}).allowed);
  EXPECT_FALSE(plan.check("411", {}).allowed);
  EXPECT_TRUE(plan.check("411", {"svc"}).allowed);
}

TEST(CallClasses, NoClassesAllowsEverything) {
  const CallClasses none;
  EXPECT_TRUE(none.empty());
  const auto v = none.check("01144201234567", {});
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.cls, nullptr);
  EXPECT_TRUE(none.check(std::string(200, '9'), {}).allowed);  // no restriction at all
  EXPECT_FALSE(openser_plan().empty());
}

TEST(CallClasses, ReasonPhraseIsDefaultedAndSanitized) {
  const CallClasses plan({
      make_class("int", "^011[0-9]+$", "int", false, "No\r\nX-Injected: yes\x01\tintl"),
      make_class("bad\nname", "^9[0-9]+$", "x"),
  });
  auto v = plan.check("0114420", {});
  EXPECT_EQ(v.reason, "No  X-Injected: yes \tintl");  // CR, LF, ^A -> space; HTAB kept
  v = plan.check("9555", {});
  EXPECT_EQ(v.reason, "Forbidden - call class bad name");
  EXPECT_EQ(plan.classes()[0].reason, "No  X-Injected: yes \tintl");  // stored sanitized
}

TEST(CallClasses, ConstructorRejectsBadEntriesNamingThem) {
  EXPECT_EQ(what_of([] {
              CallClasses({make_class("local", "^1$", "a"), make_class("local", "^2$", "b")});
            }),
            "call_classes[1].name: duplicate call class \"local\"");
  EXPECT_EQ(what_of([] { CallClasses({make_class("", "^1$", "a")}); }),
            "call_classes[0].name: empty");
  const std::string err = what_of([] { CallClasses({make_class("sos", "^112$", "local", true)}); });
  EXPECT_EQ(err.rfind("call_classes[0].group: emergency class \"sos\"", 0), 0u) << err;
}

TEST(CallClasses, OverLongNumbersAreNeverMatchedAndRefusedWhenClassesExist) {
  const CallClasses plan({make_class("anything", ".*", "everyone")});
  const std::string at_limit(kMaxNumberLength, '5');
  const std::string over(kMaxNumberLength + 1, '5');
  EXPECT_TRUE(plan.check(at_limit, {"everyone"}).allowed);
  ASSERT_NE(plan.classify(at_limit), nullptr);

  EXPECT_EQ(plan.classify(over), nullptr);
  const auto v = plan.check(over, {"everyone"});
  EXPECT_FALSE(v.allowed);  // fail closed: an unclassifiable number must not pass a restriction
  EXPECT_EQ(v.cls, nullptr);
  EXPECT_EQ(v.reason, CallClasses::kTooLongReason);

  // The same for the international class a caller without "int" might try to get around.
  const std::string long_int = "011" + std::string(kMaxNumberLength, '4');
  EXPECT_FALSE(openser_plan().check(long_int, {}).allowed);
}

TEST(CallClasses, NumberMatchesIsWholeStringAndBounded) {
  const std::regex three("[0-9]{3}");
  EXPECT_TRUE(number_matches(three, "911"));
  EXPECT_FALSE(number_matches(three, "9111"));
  EXPECT_FALSE(number_matches(three, "a911"));
  const std::regex any(".*");
  EXPECT_TRUE(number_matches(any, std::string(kMaxNumberLength, 'x')));
  EXPECT_FALSE(number_matches(any, std::string(kMaxNumberLength + 1, 'x')));
}

TEST(CallClasses, SanitizeReasonKeepsPrintableTextAndUtf8) {
  EXPECT_EQ(sanitize_reason("Forbidden"), "Forbidden");
  EXPECT_EQ(sanitize_reason("Interdit \xc3\xa0 l'international"),
            "Interdit \xc3\xa0 l'international");
  EXPECT_EQ(sanitize_reason("a\rb\nc\x7f"), "a b c ");
  EXPECT_EQ(sanitize_reason(""), "");
}

}  // namespace
}  // namespace sipws::routing
