// Voicemail URI templates (see voicemail.hpp).
#include "routing/voicemail.hpp"

#include <utility>

#include "sip/uri.hpp"

namespace sipws::routing {

std::string expand_voicemail(std::string_view tmpl, std::string_view user) {
  std::string out;
  out.reserve(tmpl.size() + user.size());
  std::size_t pos = 0;
  while (true) {
    const auto hit = tmpl.find(kVoicemailUserToken, pos);
    out.append(tmpl.substr(pos, hit - pos));
    if (hit == std::string_view::npos) break;
    out.append(user);
    pos = hit + kVoicemailUserToken.size();
  }
  return out;
}

std::optional<std::string> validate_voicemail_template(std::string_view tmpl) {
  if (tmpl.find(kVoicemailUserToken) == std::string_view::npos) {
    return "voicemail template \"" + std::string(tmpl) + "\" has no {user}";
  }
  const std::string sample = expand_voicemail(tmpl, "1001");
  const auto uri = sip::parse_uri(sample);
  if (!uri || !uri->is_sip()) {
    return "voicemail template \"" + std::string(tmpl) +
           "\" is not a sip: or sips: URI (with {user} = 1001: \"" + sample + "\")";
  }
  return std::nullopt;
}

std::optional<std::string> validate_voicemail_templates(const VoicemailTemplates& t) {
  const std::pair<std::string_view, const std::string*> fields[] = {
      {"busy", &t.busy}, {"no_answer", &t.no_answer}, {"unconditional", &t.unconditional}};
  for (const auto& [name, value] : fields) {
    if (value->empty()) continue;
    if (auto err = validate_voicemail_template(*value)) return std::string(name) + ": " + *err;
  }
  return std::nullopt;
}

}  // namespace sipws::routing
