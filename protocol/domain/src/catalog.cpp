#include <protocol/catalog.hpp>

namespace livemart {

std::string_view to_string(product_status s) {
  switch (s) {
    case product_status::active: return "active";
    case product_status::archived: return "archived";
    default: return "draft";
  }
}

bool from_string(std::string_view text, product_status& out) {
  if (text == "draft")
    out = product_status::draft;
  else if (text == "active")
    out = product_status::active;
  else if (text == "archived")
    out = product_status::archived;
  else
    return false;
  return true;
}

product apply_patch(const product& current, const product_patch& patch) {
  auto out = current;
  const auto& v = patch.values;
  if (patch.present & pf_title)
    out.title = v.title;
  if (patch.present & pf_description)
    out.description = v.description;
  if (patch.present & pf_status)
    out.status = v.status;
  if (patch.present & pf_category)
    out.category_id = v.category_id;
  if (patch.present & pf_images)
    out.image_urls = v.image_urls;
  return out;
}

} // namespace livemart
