#include "app/service_checks.hpp"

#include <algorithm>

#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace sipws::app {

namespace {

/// A character of an RFC 3261 user part (s.25.1: unreserved / user-unreserved, '%' of an
/// escape) but ';', which would start a parameter of a tel: or user=phone URI.
bool is_alias_char(char c) {
  return sip::text::is_unreserved(c) || c == '%' ||
         std::string_view("&=+$,?/").find(c) != std::string_view::npos;
}

}  // namespace

std::string group_defect(std::string_view group) {
  if (sip::text::is_token(group)) return {};
  return "group '" + std::string(group) + "' is not a token (letters, digits and -.!%*_+`'~)";
}

std::string forward_target_defect(std::string_view target) {
  if (target == "voicemail") return {};
  const auto uri = sip::parse_uri(target);
  if (uri && uri->is_sip()) return {};
  return "target '" + std::string(target) +
         "': want voicemail or a sip: or sips: URI (e.g. sip:bob@example.com)";
}

Expected<std::string, std::string> normalize_alias(std::string_view text) {
  std::string alias = sip::text::dialled_number(text);
  if (alias.empty() || !std::all_of(alias.begin(), alias.end(), is_alias_char) ||
      !sip::text::escapes_ok(alias)) {
    return Unexpected<std::string>(
        "alias '" + std::string(text) +
        "' is not a SIP user part: use letters, digits, -_.!~*'()&=+$,?/ and %HH escapes (no "
        "'@', ':', ';' or spaces; '#' as %23)");
  }
  return alias;
}

}  // namespace sipws::app
