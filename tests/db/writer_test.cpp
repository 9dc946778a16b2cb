#include <catch2/catch.hpp>

#include <set>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>
#include <protocol/metrics.hpp>

#include "db_fixture.hpp"
#include "pg_harness.hpp"

using namespace livemart;
using namespace livemart::testing;
namespace ps = livemart::persistence;

namespace {

db_command insert(const std::string& email) {
  return {{ps::user_insert(ids::next(), email, "$argon2id$fake", "Batch", role::buyer)}};
}

std::string count_of(const std::string& url, const std::string& email) {
  return sql(url, "SELECT count(*) FROM users WHERE email = '" + email + "'").rows[0][0].text;
}

/// A sample of the writer's metrics (this process's registry). A row's xmin
/// does not name its transaction (savepoints give each command a
/// subtransaction id), so the writer's own metrics count transactions, and
/// a trigger notes txid_current() where a test needs to know which.
double metric(const std::string& series) {
  auto text = metrics::registry::global().render();
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos)
    return 0;
  return std::stod(text.substr(at + series.size() + 2));
}

} // namespace

TEST_CASE("the writer replies only after COMMIT and groups concurrent writes", "[db][writer]") {
  temp_database db;
  db_fixture f{db.url()};
  caf::scoped_actor self{f.sys};
  constexpr int writes = 64;
  auto prefix = "batch." + unique_suffix() + ".";
  ok(f.read({{ps::ping()}})); // connections are up before the burst
  auto transactions_before = metric("livemart_db_batch_size_count");
  using handle = decltype(self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, db_command{}));
  std::vector<handle> pending;
  // All requests are in flight before the first reply is read.
  for (int i = 0; i < writes; ++i)
    pending.push_back(self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value,
                                    insert(prefix + std::to_string(i) + "@example.com")));
  for (int i = 0; i < writes; ++i) {
    bool replied = false;
    pending[static_cast<std::size_t>(i)].receive(
      [&](db_result& r) {
        replied = true;
        CHECK(r.results.front().rows.size() == 1);
      },
      [&](caf::error& e) { FAIL("write failed: " << to_problem(e).detail); });
    REQUIRE(replied);
    // Committed before the reply: an independent connection sees the row now.
    CHECK(count_of(db.url(), prefix + std::to_string(i) + "@example.com") == "1");
  }
  auto transactions = metric("livemart_db_batch_size_count") - transactions_before;
  INFO("transactions used for " << writes << " writes: " << transactions);
  CHECK(transactions >= 1);
  CHECK(transactions < writes);
}

TEST_CASE("a failing command fails alone, the rest of its batch commits", "[db][writer]") {
  temp_database db;
  auto prefix = "iso." + unique_suffix() + ".";
  auto email = [&](int i) { return prefix + std::to_string(i) + "@example.com"; };
  // Existing e-mails that half of the batch will collide with, written
  // directly: the writer below flushes only a full batch.
  for (int i = 0; i < 10; i += 2)
    sql(db.url(), "INSERT INTO users (id, email, password_hash, display_name) VALUES (" + std::to_string(1000 + i) + ", '"
                    + email(i) + "', 'x', 'Seed')");
  // Every insert from now on notes its transaction: txid_current() is the
  // top-level transaction's id, inside a savepoint too.
  sql(db.url(), "CREATE TABLE insert_tx (email text PRIMARY KEY, tx bigint NOT NULL); "
                "CREATE FUNCTION note_tx() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO insert_tx VALUES (NEW.email, txid_current()); RETURN NEW; END $$; "
                "CREATE TRIGGER users_note_tx AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION note_tx()");
  // One batch of all ten, however the requests and the flush tick interleave:
  // the batch flushes when it is full, long before its tick.
  conf::database_settings s;
  s.write_batch_max = 10;
  s.write_flush_interval_us = 60'000'000;
  db_fixture f{db.url(), s};
  auto transactions_before = metric("livemart_db_batch_size_count");
  auto commands_before = metric("livemart_db_batch_size_sum");
  auto errors_before = metric("livemart_db_write_errors_total");
  caf::scoped_actor self{f.sys};
  using handle = decltype(self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, db_command{}));
  std::vector<handle> pending;
  for (int i = 0; i < 10; ++i)
    pending.push_back(self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, insert(email(i))));
  int succeeded = 0;
  int conflicts = 0;
  for (auto& h : pending)
    h.receive([&](db_result&) { ++succeeded; },
              [&](caf::error& e) {
                CHECK(to_problem(e).code == errc::conflict);
                ++conflicts;
              });
  CHECK(succeeded == 5);
  CHECK(conflicts == 5);
  for (int i = 0; i < 10; ++i)
    CHECK(count_of(db.url(), email(i)) == "1");
  // The ten, failures included, committed as one transaction...
  CHECK(metric("livemart_db_batch_size_count") - transactions_before == 1);
  CHECK(metric("livemart_db_batch_size_sum") - commands_before == 10);
  CHECK(metric("livemart_db_write_errors_total") - errors_before == 5);
  auto noted = sql(db.url(), "SELECT count(*), count(DISTINCT tx) FROM insert_tx");
  CHECK(noted.rows[0][0].text == "5");
  CHECK(noted.rows[0][1].text == "1");
  // ...after the pipelined attempt failed: the rows that stayed were written
  // in savepoints of their own (command by command), so their xmin is a
  // subtransaction's id, not the transaction's.
  auto own = sql(db.url(), "SELECT count(*) FROM users u JOIN insert_tx t ON t.email = u.email "
                           "WHERE u.xmin::text::bigint = t.tx % 4294967296");
  CHECK(own.rows[0][0].text == "0");
}

TEST_CASE("the statements of one command are atomic", "[db][writer]") {
  temp_database db;
  db_fixture f{db.url()};
  auto email = "atomic." + unique_suffix() + "@example.com";
  ok(f.write(insert(email)));
  auto fresh = "fresh." + unique_suffix() + "@example.com";
  // The second statement violates the unique e-mail: the first must not stay.
  db_command both{{insert(fresh).statements.front(), insert(email).statements.front()}};
  CHECK(failed(f.write(both)).code == errc::conflict);
  CHECK(count_of(db.url(), fresh) == "0");
}

TEST_CASE("group commit honours write_batch_max", "[db][writer]") {
  temp_database db;
  conf::database_settings s;
  s.write_batch_max = 4;
  db_fixture f{db.url(), s};
  caf::scoped_actor self{f.sys};
  auto prefix = "max." + unique_suffix() + ".";
  auto total_before = metric("livemart_db_batch_size_count");
  auto small_before = metric("livemart_db_batch_size_bucket{le=\"4\"}");
  using handle = decltype(self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, db_command{}));
  std::vector<handle> pending;
  for (int i = 0; i < 16; ++i)
    pending.push_back(self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value,
                                    insert(prefix + std::to_string(i) + "@example.com")));
  for (auto& h : pending)
    h.receive([](db_result&) {}, [](caf::error& e) { FAIL("write failed: " << to_problem(e).detail); });
  // Every transaction since the start fell into the "at most 4" bucket,
  // and 16 writes needed at least 4 of them.
  auto total = metric("livemart_db_batch_size_count") - total_before;
  auto small = metric("livemart_db_batch_size_bucket{le=\"4\"}") - small_before;
  CHECK(total >= 4);
  CHECK(small == total);
}
