#include <catch2/catch.hpp>

#include <persistence/statements.hpp>
#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>

#include "db_fixture.hpp"
#include "pg_harness.hpp"

using namespace livemart;
using namespace livemart::testing;
namespace ps = livemart::persistence;

namespace {

user_profile insert_user(db_fixture& f, const std::string& email) {
  auto r = f.write({{ps::user_insert(ids::next(), email, "$argon2id$fake", "Tester", role::buyer)}});
  auto user = ps::decode_user(ok(r).results.front());
  REQUIRE(user);
  return *user;
}

std::string hash_of(const std::string& token) {
  return crypto::to_hex(crypto::sha256(token));
}

address sample_address(std::uint64_t user_id, const std::string& city) {
  address a;
  a.user_id = user_id;
  a.id = ids::next();
  a.name = "Ada";
  a.line1 = "1 Main St";
  a.city = city;
  a.postal_code = "10115";
  a.country = "DE";
  return a;
}

} // namespace

TEST_CASE("users: insert, read back, duplicate e-mail", "[db][users]") {
  temp_database db;
  db_fixture f{db.url()};
  auto email = "ada." + unique_suffix() + "@example.com";
  auto user = insert_user(f, email);
  CHECK(user.email == email);
  CHECK(user.role == role::buyer);
  CHECK(user.version == 1);

  auto read = ps::decode_user(ok(f.read({{ps::user_by_id(user.id)}})).results.front());
  REQUIRE(read);
  CHECK(read->id == user.id);
  CHECK(read->display_name == "Tester");

  auto credentials = ps::decode_credentials(ok(f.read({{ps::user_credentials(email)}})).results.front());
  REQUIRE(credentials);
  CHECK(credentials->user.id == user.id);
  CHECK(credentials->password_hash == "$argon2id$fake");
  CHECK_FALSE(credentials->suspended);
  CHECK_FALSE(ps::decode_credentials(ok(f.read({{ps::user_credentials("no." + email)}})).results.front()));
  CHECK(ps::decode_password_hash(ok(f.read({{ps::user_password_hash(user.id)}})).results.front()) == "$argon2id$fake");
  CHECK_FALSE(ps::decode_password_hash(ok(f.read({{ps::user_password_hash(ids::next())}})).results.front()));

  auto dup = refusal(f.write({{ps::user_insert(ids::next(), email, "x", "Other", role::buyer)}}));
  CHECK(dup == db_refusal::email_taken);
  CHECK(is_duplicate(dup));
  CHECK(to_problem(dup).code == errc::conflict); // what a client would see, unhandled

  SECTION("a profile update bumps the version and leaves absent fields alone") {
    profile_patch patch;
    patch.has_bio = true;
    patch.bio = "hello";
    auto updated = ps::decode_user(ok(f.write({{ps::user_update_profile(user.id, patch)}})).results.front());
    REQUIRE(updated);
    CHECK(updated->bio == "hello");
    CHECK(updated->display_name == "Tester");
    CHECK(updated->version == 2);
  }
}

TEST_CASE("refresh tokens rotate once, reuse revokes the family", "[db][tokens]") {
  temp_database db;
  db_fixture f{db.url()};
  auto user = insert_user(f, "tok." + unique_suffix() + "@example.com");
  auto family = ids::next();
  ok(f.write({{ps::refresh_insert(family, user.id, family, hash_of("first"), 3600)}}));

  auto rotate = [&](const std::string& old_token, const std::string& new_token) {
    auto rows = ok(f.write({{ps::refresh_rotate(hash_of(old_token), ids::next(), hash_of(new_token), 3600, ids::next(), 60)}}));
    return rows.results.front().rows.front()[0].text;
  };
  auto rotated = ps::decode_refresh_rotation(
    ok(f.write({{ps::refresh_rotate(hash_of("first"), ids::next(), hash_of("second"), 3600, ids::next(), 60)}}))
      .results.front());
  CHECK(rotated.outcome == "rotated");
  CHECK(rotated.user_id == user.id);
  CHECK(rotated.family_id == family);
  CHECK(rotate("second", "third") == "rotated");
  // "first" was already rotated: someone replayed it.
  CHECK(rotate("first", "evil") == "reused");
  // The replay revoked the whole family, including the newest token.
  CHECK(rotate("third", "fourth") == "reused");
  CHECK(rotate("never-issued", "x") == "unknown");
  auto unknown = ps::decode_refresh_rotation(
    ok(f.write({{ps::refresh_rotate(hash_of("never-issued"), ids::next(), hash_of("y"), 3600, ids::next(), 60)}}))
      .results.front());
  CHECK(unknown.outcome == "unknown");
  CHECK(unknown.user_id == 0); // NULL
  CHECK(unknown.family_id == 0);
  auto live = sql(db.url(), "SELECT count(*) FROM refresh_tokens WHERE family_id = " + ids::format(family)
                              + " AND revoked_at IS NULL");
  CHECK(live.rows[0][0].text == "0");
  // Each reuse ended the session, its access tokens included.
  CHECK(sql(db.url(), "SELECT count(*) FROM revoked_sessions WHERE reason = 'reused' AND session_id = "
                        + ids::format(family)).rows[0][0].text == "2");

  SECTION("an expired token does not rotate") {
    auto other = ids::next();
    ok(f.write({{ps::refresh_insert(other, user.id, other, hash_of("short"), 0)}}));
    CHECK(rotate("short", "next") == "expired");
  }

  SECTION("logout revokes the family") {
    auto other = ids::next();
    ok(f.write({{ps::refresh_insert(other, user.id, other, hash_of("mine"), 3600)}}));
    auto revoked = ok(f.write({{ps::refresh_revoke_family(hash_of("mine"))}}));
    CHECK(revoked.results.front().rows.size() == 1);
    CHECK(rotate("mine", "next") == "reused");
  }
}

TEST_CASE("addresses: default flag, limit, optimistic updates, delete promotes", "[db][addresses]") {
  temp_database db;
  db_fixture f{db.url()};
  auto user = insert_user(f, "addr." + unique_suffix() + "@example.com");

  auto create = [&](const std::string& city, bool is_default) {
    auto a = sample_address(user.id, city);
    a.is_default = is_default;
    return f.write({{ps::address_create(a, 3)}});
  };
  auto first = ps::decode_addresses(ok(create("Berlin", false)).results.front()).front();
  CHECK(first.is_default); // the first address becomes the default
  auto second = ps::decode_addresses(ok(create("Hamburg", true)).results.front()).front();
  CHECK(second.is_default);
  auto list = ps::decode_addresses(ok(f.read({{ps::address_list(user.id)}})).results.front());
  REQUIRE(list.size() == 2);
  CHECK(list.front().id == second.id); // the default is listed first
  CHECK_FALSE(list.back().is_default);

  ok(create("Munich", false));
  auto over = failed(create("Cologne", false));
  CHECK(over.code == errc::limit_reached);

  SECTION("an update at a stale version is refused") {
    auto changed = second;
    changed.city = "Bremen";
    auto updated = ps::decode_addresses(ok(f.write({{ps::address_update(changed)}})).results.front());
    REQUIRE(updated.size() == 1);
    CHECK(updated.front().version == second.version + 1);
    auto stale = refusal(f.write({{ps::address_update(changed)}}));
    CHECK(stale == db_refusal::stale);
    CHECK(to_problem(stale).code == errc::conflict);
  }

  SECTION("the default cannot be unset in place") {
    auto changed = second;
    changed.is_default = false;
    CHECK(failed(f.write({{ps::address_update(changed)}})).code == errc::validation_failed);
  }

  SECTION("deleting the default promotes the newest remaining address") {
    auto deleted = ok(f.write({{ps::address_delete(second.id, user.id)}}));
    CHECK(deleted.results.front().rows.size() == 1);
    auto after = ps::decode_addresses(ok(f.read({{ps::address_list(user.id)}})).results.front());
    REQUIRE(after.size() == 2);
    CHECK(after.front().is_default);
    CHECK(after.front().city == "Munich");
  }

  SECTION("another user's address is invisible") {
    auto other = insert_user(f, "other." + unique_suffix() + "@example.com");
    CHECK(ok(f.read({{ps::address_get(first.id, other.id)}})).results.front().rows.empty());
    CHECK(ok(f.write({{ps::address_delete(first.id, other.id)}})).results.front().rows.empty());
  }
}
