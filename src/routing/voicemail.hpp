#pragma once
// Voicemail targets (the OpenSER/Kamailio "forward to voicemail on busy / no answer" recipe):
// URI templates in which `{user}` stands for the called user. Pure text functions.

#include <optional>
#include <string>
#include <string_view>

namespace sipws::routing {

/// Where a call to a local user goes to voicemail; an empty template = no voicemail in that
/// case. Each non-empty one must pass validate_voicemail_template().
struct VoicemailTemplates {
  std::string busy;           ///< on 486 Busy Here / 600 Busy Everywhere
  std::string no_answer;      ///< on no answer (408, 480, Timer C)
  std::string unconditional;  ///< every call, before trying the user's contacts
};

/// The token replaced by the called user.
inline constexpr std::string_view kVoicemailUserToken = "{user}";

/// `tmpl` with every `{user}` replaced by `user`, inserted as it is (`user` is a Request-URI
/// user part, already escaped; a caller must not pass CR/LF or '>' in it). Thread: any.
std::string expand_voicemail(std::string_view tmpl, std::string_view user);

/// Validates a template at configuration time. @returns an error text (without the config
/// key), or nullopt when `tmpl` contains `{user}` and, with `{user}` replaced by "1001",
/// sip::parse_uri accepts it as a sip: or sips: URI. Thread: any.
std::optional<std::string> validate_voicemail_template(std::string_view tmpl);

/// Validates the three templates, empty ones allowed. @returns an error text naming the field
/// ("no_answer: ..."), or nullopt.
std::optional<std::string> validate_voicemail_templates(const VoicemailTemplates& t);

}  // namespace sipws::routing
