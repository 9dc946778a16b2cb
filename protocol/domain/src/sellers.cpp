#include <protocol/sellers.hpp>

#include <cctype>

namespace livemart {

namespace {
constexpr std::size_t slug_length_max = 48;
} // namespace

std::string_view to_string(seller_status s) {
  switch (s) {
    case seller_status::approved: return "approved";
    case seller_status::rejected: return "rejected";
    default: return "pending";
  }
}

bool from_string(std::string_view text, seller_status& out) {
  if (text == "pending")
    out = seller_status::pending;
  else if (text == "approved")
    out = seller_status::approved;
  else if (text == "rejected")
    out = seller_status::rejected;
  else
    return false;
  return true;
}

std::string slugify(std::string_view name) {
  std::string out;
  bool hyphen = false;
  for (unsigned char c : name) {
    if (std::isalnum(c) && c < 0x80) {
      if (hyphen && !out.empty())
        out.push_back('-');
      hyphen = false;
      out.push_back(static_cast<char>(std::tolower(c)));
    } else {
      hyphen = true;
    }
    if (out.size() >= slug_length_max)
      break;
  }
  while (!out.empty() && out.back() == '-')
    out.pop_back();
  return out;
}

} // namespace livemart
