#include <protocol/wire/sellers.hpp>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/validation.hpp>
#include <protocol/wire/body_reader.hpp>
#include <protocol/wire/catalog.hpp>

namespace livemart {

namespace {
constexpr std::size_t shop_name_length_min = 2;
} // namespace

decoded<seller_application> decode_seller_application(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  seller_application out;
  if (auto name = r.string("shop_name", true)) {
    out.shop_name = std::move(*name);
    if (check_text(r, "shop_name", out.shop_name, shop_name_length_min, cfg.users.display_name_length_max)) {
      out.slug = slugify(out.shop_name);
      if (out.slug.empty())
        r.invalid("shop_name", "must contain at least one letter or digit (A-Z, 0-9)");
    }
  }
  if (auto description = r.string("description", false, true)) {
    out.description = std::move(*description);
    check_text(r, "description", out.description, 0, cfg.users.shop_description_length_max, "\n");
  }
  if (auto email = r.string("contact_email", true)) {
    if (auto normalised = validation::normalize_email(*email))
      out.contact_email = std::move(*normalised);
    else
      r.invalid("contact_email", "must be a valid e-mail address");
  }
  if (auto country = r.string("country", true)) {
    std::string upper{validation::trim(*country)};
    for (auto& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (validation::is_country_code(upper))
      out.country = std::move(upper);
    else
      r.invalid("country", "must be an ISO 3166-1 alpha-2 code such as US or DE");
  }
  if (auto type = r.string("business_type", true)) {
    if (*type == "individual" || *type == "company")
      out.business_type = std::move(*type);
    else
      r.invalid("business_type", "must be individual or company");
  }
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

decoded<std::string> decode_rejection(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  std::string reason;
  if (auto text = r.string("reason", true)) {
    reason = std::move(*text);
    check_text(r, "reason", reason, 1, cfg.users.bio_length_max, "\n");
  }
  if (auto p = r.finish())
    return std::move(*p);
  return reason;
}

namespace {

void write_seller(json::writer& w, const seller& s, bool private_view, std::uint64_t live_stream_id = 0) {
  w.begin_object()
    .field("id", ids::format(s.id))
    .field("shop_name", s.shop_name)
    .field("slug", s.slug)
    .field("description", s.description)
    .field("country", s.country)
    .field("business_type", s.business_type)
    .field("status", to_string(s.status))
    .field("follower_count", s.follower_count)
    .field("active_product_count", s.active_product_count)
    .key("rating");
  write_rating(w, s.rating);
  w.field("created_at_ms", s.created_at_ms);
  w.field("is_live", live_stream_id != 0).key("live_stream_id");
  live_stream_id != 0 ? w.string(ids::format(live_stream_id)) : w.null();
  if (private_view) {
    w.field("user_id", ids::format(s.user_id))
      .field("contact_email", s.contact_email)
      .field("status_reason", s.status_reason)
      .field("updated_at_ms", s.updated_at_ms)
      .field("version", s.version);
  }
  w.end_object();
}

} // namespace

std::string encode_public(const seller& s, std::uint64_t live_stream_id) {
  json::writer w;
  write_seller(w, s, false, live_stream_id);
  return w.take();
}

std::string encode_private(const seller& s) {
  json::writer w;
  write_seller(w, s, true);
  return w.take();
}

std::string encode_list(const std::vector<seller>& list, bool private_view, std::size_t limit) {
  json::writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& s : list)
    write_seller(w, s, private_view);
  w.end_array().key("next_cursor");
  if (!list.empty() && list.size() >= limit)
    w.string(ids::format(list.back().id));
  else
    w.null();
  w.end_object();
  return w.take();
}

} // namespace livemart
