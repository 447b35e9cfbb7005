#pragma once
// Call classes (the OpenSER/Kamailio PSTN chapter's "local / ld / int" permissions): which
// callers may dial which numbers. Pure and I/O-free: the request processor gives the dialled
// number and the caller's groups and answers 403 with the verdict's reason.

#include <cstddef>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace sipws::routing {

/// Longest dialled number (characters) ever run through an operator's regex. E.164 numbers
/// have at most 15 digits; 64 leaves room for prefixes, '*' codes and '#' while bounding the
/// backtracking cost of a pattern against a Request-URI user the caller chose.
inline constexpr std::size_t kMaxNumberLength = 64;

/// std::regex_match of the whole `number` (ECMAScript semantics as the regex was compiled).
/// Never throws: false when `number` is longer than kMaxNumberLength or when the regex engine
/// gives up (std::regex_error, e.g. error_complexity / error_stack). Thread: any.
bool number_matches(const std::regex& re, std::string_view number);

/// One call class. `match` must be compiled from `match_text` by the caller (the config
/// loader); `match_text` is only kept for logs and errors.
struct CallClass {
  std::string name;        ///< unique, e.g. "local", "ld", "int", "emergency"
  std::string match_text;  ///< the regex source, e.g. "^011[0-9]+$"
  std::regex match;        ///< regex_match-ed against the whole dialled number
  std::string group;       ///< callers in this group may dial the class; "" = nobody may
                           ///< (a barred class, e.g. premium-rate numbers), unless emergency
  std::string reason;      ///< 403 reason phrase; CallClasses fills the default and sanitizes
  bool emergency = false;  ///< everyone may dial the class (911, 112), whatever their groups
};

/// An ordered list of call classes. Immutable after construction. Thread: any (const).
///
/// check(number, groups): the classes are tried in order with number_matches() (regex_match
/// on the whole number, which the caller already normalised with sip::text::dialled_number);
/// the FIRST class that matches decides:
/// - an emergency class allows everyone;
/// - a class with a group allows the callers whose `groups` contain it (order irrelevant,
///   exact case-sensitive comparison), and refuses the others with its reason;
/// - a class without a group refuses everyone (a barred class).
/// No class matches => allowed (cls == nullptr): call classes restrict, they do not route.
///
/// Over-long numbers (more than kMaxNumberLength characters) are never matched against a
/// regex. When at least one class is configured, check() refuses them (allowed == false,
/// cls == nullptr, reason kTooLongReason): an unclassifiable number must not slip past a
/// restriction, and no real telephone number is that long. With no class configured they are
/// allowed like everything else. classify() returns nullptr for them.
class CallClasses {
 public:
  /// Reason phrase for a refused over-long number.
  static constexpr std::string_view kTooLongReason = "Forbidden - number too long";

  /// Validates and keeps `classes` in order. Fills an empty `reason` with
  /// "Forbidden - call class <name>" and replaces CR, LF and other control characters in it
  /// (but HTAB) with spaces, so it is safe as a Reason-Phrase (RFC 3261 s.25.1).
  /// @throws std::invalid_argument naming the entry ("call_classes[1].name: duplicate call
  /// class \"ld\"") for an empty or duplicate name, or an emergency class with a group.
  explicit CallClasses(std::vector<CallClass> classes = {});

  struct Verdict {
    bool allowed = true;
    const CallClass* cls = nullptr;  ///< the deciding class, nullptr if none matched
    std::string_view reason;         ///< the 403 reason phrase when !allowed, else empty;
                                     ///< points into this CallClasses or a static string
  };

  /// The verdict for a caller in `groups` dialling `number` (see the class comment).
  Verdict check(std::string_view number, const std::vector<std::string>& groups) const;
  /// The first class whose regex matches `number`, nullptr if none (or if over-long).
  const CallClass* classify(std::string_view number) const;
  bool empty() const { return classes_.empty(); }
  const std::vector<CallClass>& classes() const { return classes_; }

 private:
  std::vector<CallClass> classes_;
};

/// `text` with CR, LF and other control characters (but HTAB) replaced by spaces: safe for a
/// Reason-Phrase or a header value. Thread: any.
std::string sanitize_reason(std::string_view text);

}  // namespace sipws::routing
