#include <protocol/wire/users.hpp>

#include <protocol/address_fields.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/validation.hpp>
#include <protocol/wire/body_reader.hpp>

namespace livemart {

// -- decoders --------------------------------------------------------------------

namespace {

template <class T>
decoded<T> done(body_reader& reader, T value) {
  if (auto p = reader.finish())
    return std::move(*p);
  return value;
}

void check_email(body_reader& reader, std::string& email) {
  auto normalised = validation::normalize_email(email);
  if (!normalised)
    reader.invalid("email", "must be a valid e-mail address");
  else
    email = std::move(*normalised);
}

} // namespace

decoded<register_request> decode_register(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  register_request out;
  if (!r.ok())
    return *r.finish();
  if (auto email = r.string("email", true)) {
    out.email = std::move(*email);
    check_email(r, out.email);
  }
  if (auto password = r.string("password", true)) {
    out.password = std::move(*password);
    auto verdict = validation::check_password(out.password, cfg.auth.password_length_min, cfg.auth.password_length_max);
    if (verdict != validation::password_verdict::ok)
      r.invalid("password", std::string{validation::describe(verdict)});
  }
  if (auto name = r.string("display_name", true)) {
    out.display_name = std::move(*name);
    check_text(r, "display_name", out.display_name, 1, cfg.users.display_name_length_max);
  }
  return done(r, std::move(out));
}

decoded<login_request> decode_login(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  login_request out;
  if (!r.ok())
    return *r.finish();
  if (auto email = r.string("email", true)) {
    // A malformed address is simply an unknown account: the reply must not
    // reveal anything beyond "wrong e-mail or password".
    auto normalised = validation::normalize_email(*email);
    out.email = normalised ? std::move(*normalised) : std::string{};
    if (email->size() > 320)
      r.invalid("email", "is too long");
  }
  if (auto password = r.string("password", true)) {
    out.password = std::move(*password);
    // Bound the hashing work an attacker can ask for.
    if (out.password.size() > cfg.auth.password_length_max * 4)
      r.invalid("password", "is too long");
  }
  return done(r, std::move(out));
}

decoded<refresh_request> decode_refresh(std::string_view body) {
  return decode_refresh(body, conf::settings{});
}

decoded<refresh_request> decode_refresh(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  refresh_request out;
  if (!r.ok())
    return *r.finish();
  if (auto token = r.string("refresh_token", true)) {
    out.refresh_token = std::move(*token);
    if (out.refresh_token.empty() || out.refresh_token.size() > 128)
      r.invalid("refresh_token", "is not a refresh token");
  }
  return done(r, std::move(out));
}

decoded<password_change> decode_password_change(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  password_change out;
  if (!r.ok())
    return *r.finish();
  if (auto current = r.string("current_password", true)) {
    out.current_password = std::move(*current);
    if (out.current_password.size() > cfg.auth.password_length_max * 4) // bounds the hashing work
      r.invalid("current_password", "is too long");
  }
  if (auto next = r.string("new_password", true)) {
    out.new_password = std::move(*next);
    auto verdict = validation::check_password(out.new_password, cfg.auth.password_length_min, cfg.auth.password_length_max);
    if (verdict != validation::password_verdict::ok)
      r.invalid("new_password", std::string{validation::describe(verdict)});
    else if (out.new_password == out.current_password)
      r.invalid("new_password", "must differ from the current password");
  }
  return done(r, std::move(out));
}

decoded<suspension> decode_suspension(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  suspension out;
  if (!r.ok())
    return *r.finish();
  if (auto reason = r.string("reason", true)) {
    out.reason = std::move(*reason);
    check_text(r, "reason", out.reason, 1, cfg.users.bio_length_max);
  }
  return done(r, std::move(out));
}

decoded<profile_patch> decode_profile_patch(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  profile_patch out;
  if (!r.ok())
    return *r.finish();
  if (auto name = r.string("display_name", false)) {
    out.has_display_name = true;
    out.display_name = std::move(*name);
    check_text(r, "display_name", out.display_name, 1, cfg.users.display_name_length_max);
  }
  if (auto bio = r.string("bio", false, true)) {
    out.has_bio = true;
    out.bio = std::move(*bio);
    check_text(r, "bio", out.bio, 0, cfg.users.bio_length_max, "\n");
  }
  if (auto url = r.string("avatar_url", false, true)) {
    out.has_avatar_url = true;
    out.avatar_url = std::string{validation::trim(*url)};
    if (!out.avatar_url.empty() && !validation::is_https_url(out.avatar_url, cfg.users.avatar_url_bytes_max))
      r.invalid("avatar_url", "must be an https URL of at most " + std::to_string(cfg.users.avatar_url_bytes_max) + " bytes");
  }
  if (!out.has_display_name && !out.has_bio && !out.has_avatar_url)
    r.invalid("body", "names no field to change (display_name, bio, avatar_url)");
  return done(r, std::move(out));
}

namespace {

/// Reads the address fields present in the body into `patch`.
void read_address_fields(body_reader& r, address_patch& patch, bool creating) {
  for (const auto& f : address_text_fields) {
    if (auto text = r.string(f.key, creating && f.required, !f.required)) {
      patch.present |= f.bit;
      patch.values.*f.member = std::move(*text);
    }
  }
  if (auto flag = r.boolean("is_default", false)) {
    patch.present |= af_is_default;
    patch.values.is_default = *flag;
  }
}

} // namespace

decoded<address> decode_address(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  address_patch patch;
  // Required fields are checked by validate_address, together with every
  // other rule, so one reply names every offending field.
  read_address_fields(r, patch, false);
  if (auto p = r.finish())
    return std::move(*p);
  auto a = patch.values;
  if (auto errors = validate_address(a, cfg); !errors.empty())
    return invalid_fields(std::move(errors));
  return a;
}

decoded<address_patch> decode_address_patch(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  address_patch patch;
  read_address_fields(r, patch, false);
  if (auto p = r.finish())
    return std::move(*p);
  if (patch.present == 0)
    return make_problem(errc::validation_failed, "the body names no field to change");
  return patch;
}

// -- encoders -----------------------------------------------------------------

std::string encode(const user_profile& u) {
  json::writer w;
  w.begin_object()
    .field("id", ids::format(u.id))
    .field("email", u.email)
    .field("display_name", u.display_name)
    .field("bio", u.bio)
    .key("avatar_url").optional_string(u.avatar_url.empty() ? std::nullopt : std::optional{u.avatar_url})
    .field("role", to_string(u.role))
    .field("created_at_ms", u.created_at_ms)
    .field("updated_at_ms", u.updated_at_ms)
    .field("version", u.version)
    .end_object();
  return w.take();
}

std::string encode(const token_pair& t) {
  json::writer w;
  w.begin_object()
    .field("token_type", "Bearer")
    .field("access_token", t.access_token)
    .field("expires_in", t.access_expires_in_s)
    .field("refresh_token", t.refresh_token)
    .field("refresh_expires_in", t.refresh_expires_in_s)
    .field("user_id", ids::format(t.user_id))
    .end_object();
  return w.take();
}

namespace {
void write_address(json::writer& w, const address& a) {
  w.begin_object()
    .field("id", ids::format(a.id))
    .field("name", a.name)
    .field("line1", a.line1)
    .field("line2", a.line2)
    .field("city", a.city)
    .field("region", a.region)
    .field("postal_code", a.postal_code)
    .field("country", a.country)
    .field("phone", a.phone)
    .field("is_default", a.is_default)
    .field("created_at_ms", a.created_at_ms)
    .field("updated_at_ms", a.updated_at_ms)
    .field("version", a.version)
    .end_object();
}
} // namespace

std::string encode(const address& a) {
  json::writer w;
  write_address(w, a);
  return w.take();
}

std::string encode(const std::vector<address>& list) {
  json::writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& a : list)
    write_address(w, a);
  w.end_array().end_object();
  return w.take();
}

} // namespace livemart
