#include <protocol/users.hpp>

#include <algorithm>

#include <protocol/body_reader.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/validation.hpp>

namespace livemart {

// -- body_reader ------------------------------------------------------------

body_reader::body_reader(std::string_view body, std::size_t depth_max, std::size_t members_max) {
  auto parsed = json::parse(body, depth_max, members_max);
  if (auto* err = std::get_if<json::parse_error>(&parsed)) {
    fatal_ = true;
    fatal_problem_ = make_problem(errc::malformed_json, "the body is not valid JSON: " + err->message);
    return;
  }
  root_ = std::move(std::get<json::value>(parsed));
  if (!root_.is_object()) {
    fatal_ = true;
    fatal_problem_ = make_problem(errc::invalid_field_type, "the body must be a JSON object");
  }
}

bool body_reader::has(std::string_view key) const {
  return root_.find(key) != nullptr;
}

const json::value* body_reader::field(std::string_view key) {
  seen_.emplace_back(key);
  return root_.find(key);
}

std::optional<std::string> body_reader::string(std::string_view key, bool required, bool nullable) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return std::nullopt;
  }
  if (v->is_null() && nullable)
    return std::string{};
  if (!v->is_string()) {
    type_errors_.push_back({name(key), "must be a string, not " + std::string{v->type_name()}});
    return std::nullopt;
  }
  return v->as_string();
}

std::optional<bool> body_reader::boolean(std::string_view key, bool required) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return std::nullopt;
  }
  if (!v->is_bool()) {
    type_errors_.push_back({name(key), "must be a boolean, not " + std::string{v->type_name()}});
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<std::int64_t> body_reader::integer(std::string_view key, bool required, std::int64_t min,
                                                  std::int64_t max) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return std::nullopt;
  }
  if (!v->is_integer()) {
    type_errors_.push_back({name(key), "must be a whole number, not " + std::string{v->type_name()}});
    return std::nullopt;
  }
  if (v->as_integer() < min || v->as_integer() > max) {
    rule_errors_.push_back({name(key), "must be from " + std::to_string(min) + " to " + std::to_string(max)});
    return std::nullopt;
  }
  return v->as_integer();
}

std::optional<std::uint64_t> body_reader::id(std::string_view key, bool required, std::string_view what) {
  auto text = string(key, required);
  if (!text)
    return std::nullopt;
  auto parsed = ids::parse(*text);
  if (!parsed) {
    // Appended piece by piece: GCC 12 warns (-Wrestrict) on "literal" + string.
    std::string message = "is not a valid ";
    message.append(what).append(" id");
    invalid(key, std::move(message));
  }
  return parsed;
}

std::optional<std::vector<std::string>> body_reader::string_array(std::string_view key, bool required,
                                                                  std::size_t items_max) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return std::nullopt;
  }
  if (!v->is_array()) {
    type_errors_.push_back({name(key), "must be an array of strings, not " + std::string{v->type_name()}});
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) {
      type_errors_.push_back({name(key), "must be an array of strings"});
      return std::nullopt;
    }
    out.push_back(item.as_string());
  }
  if (out.size() > items_max) {
    rule_errors_.push_back({name(key), "must have at most " + std::to_string(items_max) + " entries"});
    return std::nullopt;
  }
  return out;
}

bool body_reader::is_null(std::string_view key) {
  const auto* v = field(key);
  return v != nullptr && v->is_null();
}

std::size_t body_reader::objects(std::string_view key, bool required, std::size_t items_min, std::size_t items_max,
                                const std::function<void(body_reader&, std::size_t)>& each) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return 0;
  }
  if (!v->is_array()) {
    type_errors_.push_back({name(key), "must be an array of objects, not " + std::string{v->type_name()}});
    return 0;
  }
  const auto& items = v->as_array();
  if (items.size() < items_min || items.size() > items_max) {
    rule_errors_.push_back({name(key), "must have from " + std::to_string(items_min) + " to "
                                         + std::to_string(items_max) + " entries"});
    return 0;
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto prefix = name(key) + "[" + std::to_string(i) + "]";
    if (!items[i].is_object()) {
      type_errors_.push_back({prefix, "must be an object, not " + std::string{items[i].type_name()}});
      continue;
    }
    body_reader item{items[i], prefix + "."};
    each(item, i);
    for (const auto& [k, value] : item.root_.as_object())
      if (std::find(item.seen_.begin(), item.seen_.end(), k) == item.seen_.end())
        unknown_.push_back({item.name(k), "is not a field of this request"});
    unknown_.insert(unknown_.end(), item.unknown_.begin(), item.unknown_.end());
    type_errors_.insert(type_errors_.end(), item.type_errors_.begin(), item.type_errors_.end());
    rule_errors_.insert(rule_errors_.end(), item.rule_errors_.begin(), item.rule_errors_.end());
  }
  return items.size();
}

void body_reader::invalid(std::string_view key, std::string message) {
  rule_errors_.push_back({name(key), std::move(message)});
}

std::optional<problem> body_reader::finish() {
  if (fatal_)
    return fatal_problem_;
  std::vector<field_error> unknown;
  for (const auto& [k, v] : root_.as_object())
    if (std::find(seen_.begin(), seen_.end(), k) == seen_.end())
      unknown.push_back({k, "is not a field of this request"});
  unknown.insert(unknown.end(), unknown_.begin(), unknown_.end());
  if (!unknown.empty()) {
    auto p = make_problem(errc::unknown_field, "unknown field \"" + unknown.front().field + "\"");
    p.fields = std::move(unknown);
    p.fields.insert(p.fields.end(), type_errors_.begin(), type_errors_.end());
    return p;
  }
  if (!type_errors_.empty()) {
    auto p = make_problem(errc::invalid_field_type, "field \"" + type_errors_.front().field + "\" has the wrong type");
    p.fields = std::move(type_errors_);
    return p;
  }
  if (!rule_errors_.empty())
    return invalid_fields(std::move(rule_errors_));
  return std::nullopt;
}

bool check_text(body_reader& reader, std::string_view key, std::string& text, std::size_t length_min,
                std::size_t length_max, std::string_view allowed_controls) {
  text = std::string{validation::trim(text)};
  if (validation::has_control_characters(text, allowed_controls)) {
    reader.invalid(key, "must not contain control characters");
    return false;
  }
  auto length = validation::utf8_length(text);
  if (length < length_min) {
    reader.invalid(key, length_min == 1 ? "must not be empty" : "must be at least " + std::to_string(length_min) + " characters");
    return false;
  }
  if (length > length_max) {
    reader.invalid(key, "must be at most " + std::to_string(length_max) + " characters");
    return false;
  }
  return true;
}

// -- roles ---------------------------------------------------------------------

std::string_view to_string(role r) {
  switch (r) {
    case role::seller: return "seller";
    case role::admin: return "admin";
    default: return "buyer";
  }
}

bool from_string(std::string_view text, role& out) {
  if (text == "buyer")
    out = role::buyer;
  else if (text == "seller")
    out = role::seller;
  else if (text == "admin")
    out = role::admin;
  else
    return false;
  return true;
}

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

struct address_text_field {
  std::string_view key;
  std::string address::*member;
  address_field bit;
  bool required;
};

constexpr address_text_field address_text_fields[] = {
  {"name", &address::name, af_name, true},
  {"line1", &address::line1, af_line1, true},
  {"line2", &address::line2, af_line2, false},
  {"city", &address::city, af_city, true},
  {"region", &address::region, af_region, false},
  {"postal_code", &address::postal_code, af_postal_code, true},
  {"country", &address::country, af_country, true},
  {"phone", &address::phone, af_phone, false},
};

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

bool is_phone(std::string_view text) {
  // E.164-ish: an optional '+', digits, spaces, hyphens, dots and parentheses; 6..20 digits.
  std::size_t digits = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9')
      ++digits;
    else if (c == '+' && i == 0)
      continue;
    else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')')
      return false;
  }
  return digits >= 6 && digits <= 20;
}

} // namespace

std::vector<field_error> validate_address(address& a, const conf::settings& cfg) {
  std::vector<field_error> errors;
  auto max = cfg.users.address_field_length_max;
  for (const auto& f : address_text_fields) {
    auto& text = a.*f.member;
    text = std::string{validation::trim(text)};
    if (validation::has_control_characters(text)) {
      errors.push_back({std::string{f.key}, "must not contain control characters"});
      continue;
    }
    auto length = validation::utf8_length(text);
    if (f.required && length == 0)
      errors.push_back({std::string{f.key}, "is required"});
    else if (length > max)
      errors.push_back({std::string{f.key}, "must be at most " + std::to_string(max) + " characters"});
  }
  bool country_ok = false;
  if (!a.country.empty()) {
    std::string upper = a.country;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    if (validation::is_country_code(upper)) {
      a.country = upper;
      country_ok = true;
    } else {
      errors.push_back({"country", "must be an ISO 3166-1 alpha-2 code such as US or DE"});
    }
  }
  if (country_ok && !a.postal_code.empty()) {
    if (auto code = validation::normalize_postal_code(a.country, a.postal_code))
      a.postal_code = std::move(*code);
    else
      errors.push_back({"postal_code", "is not a valid postal code for " + a.country});
  }
  if (!a.phone.empty() && !is_phone(a.phone))
    errors.push_back({"phone", "must be a phone number of 6 to 20 digits"});
  // Report each field once, in a stable order.
  std::vector<field_error> unique;
  for (auto& e : errors)
    if (std::none_of(unique.begin(), unique.end(), [&](const field_error& u) { return u.field == e.field; }))
      unique.push_back(std::move(e));
  return unique;
}

address apply_patch(const address& current, const address_patch& patch) {
  address out = current;
  for (const auto& f : address_text_fields)
    if (patch.present & f.bit)
      out.*f.member = patch.values.*f.member;
  if (patch.present & af_is_default)
    out.is_default = patch.values.is_default;
  return out;
}

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
