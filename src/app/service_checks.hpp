#pragma once
// Input checks of the subscriber services (groups, forwarding rules, aliases), shared by the
// `sipws group|forward|alias` commands and the admin API so both accept exactly the same.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace sipws::app {

/// Longest ring time of a no_answer forwarding rule, seconds.
inline constexpr std::uint32_t kMaxRingTimeoutS = 600;

/// Why `group` is not a group name (an RFC 3261 token), "" if it is one.
std::string group_defect(std::string_view group);

/// Why `target` is not a forwarding target (the word `voicemail`, or a sip:/sips: URI that
/// sip::parse_uri accepts), "" if it is one.
std::string forward_target_defect(std::string_view target);

/// The alias as stored: the dialled number (RFC 3966 visual separators removed,
/// sip::text::dialled_number), which must be a non-empty SIP user part without ';' (RFC 3261
/// s.25.1); else why not.
Expected<std::string, std::string> normalize_alias(std::string_view text);

}  // namespace sipws::app
