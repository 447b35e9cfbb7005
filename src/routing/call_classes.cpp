// Call classes: first-match permissions on the dialled number (see call_classes.hpp).
#include "routing/call_classes.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

namespace sipws::routing {

bool number_matches(const std::regex& re, std::string_view number) {
  if (number.size() > kMaxNumberLength) return false;
  try {
    return std::regex_match(number.begin(), number.end(), re);
  } catch (const std::regex_error&) {
    return false;  // the engine gave up (complexity / stack): treat as no match
  }
}

std::string sanitize_reason(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) c = ' ';
  }
  return out;
}

CallClasses::CallClasses(std::vector<CallClass> classes) : classes_(std::move(classes)) {
  std::unordered_set<std::string> names;
  for (std::size_t i = 0; i < classes_.size(); ++i) {
    CallClass& c = classes_[i];
    const std::string where = "call_classes[" + std::to_string(i) + "]";
    if (c.name.empty()) throw std::invalid_argument(where + ".name: empty");
    if (!names.insert(c.name).second) {
      throw std::invalid_argument(where + ".name: duplicate call class \"" + c.name + "\"");
    }
    if (c.emergency && !c.group.empty()) {
      throw std::invalid_argument(where + ".group: emergency class \"" + c.name +
                                  "\" is open to everyone and cannot have a group");
    }
    c.reason = sanitize_reason(c.reason.empty() ? "Forbidden - call class " + c.name : c.reason);
  }
}

const CallClass* CallClasses::classify(std::string_view number) const {
  for (const auto& c : classes_) {
    if (number_matches(c.match, number)) return &c;
  }
  return nullptr;
}

CallClasses::Verdict CallClasses::check(std::string_view number,
                                        const std::vector<std::string>& groups) const {
  if (classes_.empty()) return {};
  if (number.size() > kMaxNumberLength) return {false, nullptr, kTooLongReason};
  const CallClass* c = classify(number);
  if (c == nullptr || c->emergency) return {true, c, {}};
  if (!c->group.empty() && std::find(groups.begin(), groups.end(), c->group) != groups.end()) {
    return {true, c, {}};
  }
  return {false, c, c->reason};
}

}  // namespace sipws::routing
