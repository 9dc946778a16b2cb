#include <persistence/bulk.hpp>

#include <cstdio>
#include <ctime>

#include <protocol/ids.hpp>

#include "pg.hpp"

namespace livemart::persistence {
namespace {

/// COPY's text format: tab-separated columns, one row per line, with
/// backslash escapes.
class copy_rows {
public:
  copy_rows& text(std::string_view value) {
    separate();
    for (char c : value) {
      switch (c) {
        case '\\': data_ += "\\\\"; break;
        case '\t': data_ += "\\t"; break;
        case '\n': data_ += "\\n"; break;
        case '\r': data_ += "\\r"; break;
        default: data_ += c;
      }
    }
    return *this;
  }
  copy_rows& number(std::int64_t value) { return raw(std::to_string(value)); }
  copy_rows& id(std::uint64_t value) { return raw(ids::format(value)); }
  copy_rows& null() { return raw("\\N"); }
  void end_row() {
    data_ += '\n';
    first_ = true;
  }
  const std::string& data() const { return data_; }

private:
  copy_rows& raw(const std::string& value) {
    separate();
    data_ += value;
    return *this;
  }
  void separate() {
    if (!first_)
      data_ += '\t';
    first_ = false;
  }
  std::string data_;
  bool first_ = true;
};

/// "2026-05-01 12:34:56.789+00" for a timestamptz column.
std::string utc_text(std::int64_t ms) {
  auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string images_json(const std::vector<std::string>& urls) {
  std::string out = "[";
  for (const auto& u : urls) {
    if (out.size() > 1)
      out += ',';
    out += '"';
    for (char c : u) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "]";
}

} // namespace

struct bulk_load::impl {
  std::unique_ptr<pg_connection> conn;

  std::optional<std::string> exec(const std::string& sql) {
    auto r = conn->run_sql(sql);
    if (auto* e = std::get_if<pg_error>(&r))
      return e->sqlstate + ": " + e->message;
    return std::nullopt;
  }
  std::optional<std::string> copy(const std::string& sql, const copy_rows& rows) {
    if (auto e = conn->copy_in(sql, rows.data()))
      return e->sqlstate + ": " + e->message;
    return std::nullopt;
  }
};

bulk_load::bulk_load(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
bulk_load::~bulk_load() = default;

std::variant<std::unique_ptr<bulk_load>, std::string> bulk_load::open(const std::string& url,
                                                                      std::uint32_t connect_timeout_s) {
  auto opened = pg_connection::open(url, connect_timeout_s, 0, /*prepare=*/false);
  if (auto* e = std::get_if<pg_error>(&opened))
    return "cannot connect: " + e->message;
  auto state = std::make_unique<impl>();
  state->conn = std::move(std::get<std::unique_ptr<pg_connection>>(opened));
  if (auto err = state->exec("BEGIN"))
    return *err;
  return std::unique_ptr<bulk_load>{new bulk_load(std::move(state))};
}

std::variant<bool, std::string> bulk_load::catalog_is_empty() {
  auto r = impl_->conn->run_sql(
    "SELECT NOT EXISTS (SELECT 1 FROM categories) AND NOT EXISTS (SELECT 1 FROM products)");
  if (auto* e = std::get_if<pg_error>(&r))
    return e->message;
  return std::get<db_rows>(r).rows.at(0).at(0).text == "t";
}

std::optional<std::string> bulk_load::add_accounts(const std::vector<account>& accounts) {
  copy_rows rows;
  for (const auto& a : accounts) {
    rows.id(a.user.id).text(a.user.email).text(a.password_hash).text(a.user.display_name).text(to_string(a.user.role));
    rows.end_row();
  }
  return impl_->copy("COPY users (id, email, password_hash, display_name, role) FROM STDIN", rows);
}

std::optional<std::string> bulk_load::add_sellers(const std::vector<seller>& sellers, std::uint64_t admin_id) {
  copy_rows rows;
  copy_rows transitions;
  for (const auto& s : sellers) {
    rows.id(s.id).id(s.user_id).text(s.shop_name).text(s.slug).text(s.description).text(s.contact_email)
      .text(s.country).text(s.business_type).text(to_string(s.status));
    rows.end_row();
    transitions.id(ids::next()).id(s.id).text("pending").text(to_string(s.status)).id(admin_id).text("demo seed");
    transitions.end_row();
  }
  if (auto err = impl_->copy("COPY sellers (id, user_id, shop_name, slug, description, contact_email, country, "
                             "business_type, status) FROM STDIN",
                             rows))
    return err;
  return impl_->copy("COPY seller_transitions (id, seller_id, from_status, to_status, actor_user_id, reason) FROM STDIN",
                     transitions);
}

std::optional<std::string> bulk_load::add_categories(const std::vector<category>& categories) {
  copy_rows rows;
  for (const auto& c : categories) {
    rows.id(c.id);
    if (c.parent_id == 0)
      rows.null();
    else
      rows.id(c.parent_id);
    rows.text(c.name).text(c.slug).number(c.position).text(c.active ? "t" : "f");
    rows.end_row();
  }
  return impl_->copy("COPY categories (id, parent_id, name, slug, position, active) FROM STDIN", rows);
}

std::optional<std::string> bulk_load::add_products(const std::vector<product>& products) {
  copy_rows rows;
  copy_rows ledger;
  for (const auto& p : products) {
    rows.id(p.id).id(p.seller_id).id(p.category_id).text(p.title).text(p.description).number(p.price_minor)
      .text(p.currency).number(p.stock).text(to_string(p.status)).text(images_json(p.image_urls))
      .text(utc_text(p.created_at_ms)).text(utc_text(p.created_at_ms));
    rows.end_row();
    if (p.stock > 0) {
      ledger.id(ids::next()).id(p.id).text("restock").number(p.stock).text("demo seed");
      ledger.end_row();
    }
  }
  if (auto err = impl_->copy("COPY products (id, seller_id, category_id, title, description, price_minor, currency, "
                             "stock, status, image_urls, created_at, updated_at) FROM STDIN",
                             rows))
    return err;
  return impl_->copy("COPY stock_ledger (id, product_id, kind, quantity, reason) FROM STDIN", ledger);
}

std::optional<std::string> bulk_load::commit() {
  return impl_->exec("COMMIT");
}

} // namespace livemart::persistence
