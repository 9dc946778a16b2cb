// End-to-end tests of the operational surface: health, readiness, metrics,
// behaviour while PostgreSQL is away, and the migrate command.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <poll.h>
#include <string>
#include <string_view>
#include <variant>

#include <persistence/migrations.hpp>
#include <protocol/json.hpp>

#include "api.hpp"
#include "http_client.hpp"
#include "pg_harness.hpp"
#include "server_process.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {


std::string register_body(const std::string& email) {
  return R"({"email":)" + quote(email) + R"(,"password":"correct horse battery staple","display_name":"Ops"})";
}



void check_retry_after(const http_reply& r) {
  auto value = r.header("retry-after");
  INFO("Retry-After: " << value);
  REQUIRE_FALSE(value.empty());
  REQUIRE(value.find_first_not_of("0123456789") == std::string::npos);
  CHECK(std::stol(value) > 0);
}

/// The value of the sample line starting with `series` ("name{labels}"), or -1.
double sample(const std::string& metrics, const std::string& series) {
  std::size_t pos = 0;
  while (pos < metrics.size()) {
    auto end = metrics.find('\n', pos);
    if (end == std::string::npos)
      end = metrics.size();
    std::string_view line{metrics.data() + pos, end - pos};
    if (line.size() > series.size() && line.substr(0, series.size()) == series && line[series.size()] == ' ')
      return std::stod(std::string{line.substr(series.size() + 1)});
    pos = end + 1;
  }
  return -1;
}

std::string unique_email() {
  return "ops_" + unique_suffix() + "@example.com";
}

} // namespace

TEST_CASE("healthz and readyz answer when all is well", "[e2e][ops]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};

  auto health = c.get("/healthz");
  REQUIRE(health.status == 200);
  CHECK(health.header("content-type").rfind("application/json", 0) == 0);
  CHECK(health.json().string_or("status") == "ok");
  CHECK(health.body == R"({"status":"ok"})");

  auto ready = c.get("/readyz");
  INFO(ready.body);
  REQUIRE(ready.status == 200);
  CHECK(ready.header("content-type").rfind("application/json", 0) == 0);
  CHECK(ready.json().string_or("status") == "ready");
}

TEST_CASE("metrics expose request, database and actor series", "[e2e][ops]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};

  REQUIRE(c.get("/healthz").status == 200);
  REQUIRE(c.get("/no/such/route").status == 404);
  REQUIRE(c.post("/auth/register", register_body(unique_email())).status == 201);
  REQUIRE(c.post("/auth/register", "{").status == 400);

  auto r = c.get("/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").rfind("text/plain", 0) == 0);
  const auto& m = r.body;
  INFO(m);
  CHECK(m.find("# TYPE livemart_http_requests_total counter") != std::string::npos);
  CHECK(sample(m, R"(livemart_http_requests_total{route="GET /healthz",status="200"})") >= 1);
  CHECK(sample(m, R"(livemart_http_requests_total{route="POST /auth/register",status="201"})") >= 1);
  CHECK(sample(m, R"(livemart_http_requests_total{route="POST /auth/register",status="400"})") >= 1);
  CHECK(sample(m, R"(livemart_http_requests_total{route="unmatched",status="404"})") >= 1);
  CHECK(m.find("# TYPE livemart_http_request_seconds histogram") != std::string::npos);
  CHECK(sample(m, R"(livemart_http_request_seconds_bucket{route="GET /healthz",le="+Inf"})") >= 1);
  CHECK(sample(m, R"(livemart_http_request_seconds_count{route="GET /healthz"})") >= 1);
  CHECK(sample(m, "livemart_http_in_flight_requests") >= 1); // this very request
  CHECK(m.find("livemart_db_batch_size_bucket") != std::string::npos);
  CHECK(sample(m, "livemart_db_batch_size_count") >= 1);
  CHECK(m.find("livemart_db_commit_seconds_bucket") != std::string::npos);
  CHECK(sample(m, "livemart_db_commit_seconds_count") >= 1);
  CHECK(sample(m, "livemart_actors_running") > 0);

  // Counters count: three more health checks on this connection show up exactly.
  auto before = sample(m, R"(livemart_http_requests_total{route="GET /healthz",status="200"})");
  for (int i = 0; i < 3; ++i)
    REQUIRE(c.get("/healthz").status == 200);
  auto after = c.get("/metrics");
  REQUIRE(after.status == 200);
  CHECK(sample(after.body, R"(livemart_http_requests_total{route="GET /healthz",status="200"})") == before + 3);
  CHECK(sample(after.body, R"(livemart_http_requests_total{route="GET /metrics",status="200"})") >= 1);
}

TEST_CASE("while the database is away requests fail fast with 503, and service resumes", "[e2e][ops][outage]") {
  private_cluster cluster;
  sql(cluster.url(), "CREATE DATABASE app");
  auto url = with_database(cluster.url(), "app");
  auto migrated = persistence::migrate(url, 5);
  if (auto* err = std::get_if<std::string>(&migrated))
    FAIL("migration failed: " << *err);

  server_process srv{url, {"--database.reconnect_interval_ms=100"}};
  http_client c{srv.port()};
  REQUIRE(c.get("/readyz").status == 200);
  REQUIRE(c.post("/auth/register", register_body(unique_email())).status == 201);

  cluster.stop();
  auto started = std::chrono::steady_clock::now();
  auto ready = c.get("/readyz");
  check_problem(ready, 503, "database-unavailable");
  check_retry_after(ready);

  auto during_email = unique_email();
  auto reg = c.post("/auth/register", register_body(during_email));
  check_problem(reg, 503, "database-unavailable");
  check_retry_after(reg);
  auto login = c.post("/auth/login", R"({"email":"nobody@example.com","password":"correct horse battery staple"})");
  check_problem(login, 503, "database-unavailable");
  check_retry_after(login);
  auto elapsed = std::chrono::steady_clock::now() - started;
  INFO("three requests took " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
  CHECK(elapsed < std::chrono::seconds{3});

  // Liveness does not depend on the database.
  CHECK(c.get("/healthz").status == 200);

  cluster.start();
  bool back = false;
  for (int attempt = 0; attempt < 200 && !back; ++attempt) {
    auto r = c.get("/readyz");
    back = r.status == 200;
    if (!back) {
      REQUIRE(r.status == 503);
      ::poll(nullptr, 0, 50); // bounded retry pacing, not a wait for an effect
    }
  }
  REQUIRE(back);

  auto after = c.post("/auth/register", register_body(unique_email()));
  INFO(after.body);
  CHECK(after.status == 201);
  // The refused registration did not happen behind the client's back.
  CHECK(sql(url, "SELECT count(*) FROM users WHERE email = '" + during_email + "'").rows[0][0].text == "0");
  CHECK(sql(url, "SELECT count(*) FROM users").rows[0][0].text == "2");
}

TEST_CASE("livemart migrate applies the migrations once", "[e2e][ops]") {
  temp_database db{false};

  auto [code, output] = server_process::run({"migrate"}, {{"DATABASE_URL", db.url()}});
  INFO(output);
  CHECK(code == 0);
  CHECK(output.find("applied 0001_users.sql") != std::string::npos);
  // Every migration is applied by the first run (how many grows over time).
  CHECK(output.find("applied now, 0 already applied") != std::string::npos);
  CHECK(output.find("migrations: 0 applied now") == std::string::npos);
  CHECK(sql(db.url(), "SELECT count(*) FROM users").rows[0][0].text == "0");

  auto [again_code, again_output] = server_process::run({"migrate"}, {{"DATABASE_URL", db.url()}});
  INFO(again_output);
  CHECK(again_code == 0);
  CHECK(again_output.find("0 applied now") != std::string::npos);
  CHECK(again_output.find("applied 0001_users.sql") == std::string::npos);

  // And the migrated database serves.
  server_process srv{db.url()};
  http_client c{srv.port()};
  CHECK(c.get("/readyz").status == 200);
  CHECK(c.post("/auth/register", register_body(unique_email())).status == 201);
}

TEST_CASE("livemart migrate fails cleanly when the database cannot be reached", "[e2e][ops]") {
  auto [code, output] =
    server_process::run({"migrate", "--database.connect_timeout_s=1"},
                        {{"DATABASE_URL", with_database(cluster_url(), "lm_no_such_database_" + unique_suffix())}});
  INFO(output);
  CHECK(code != 0);
  CHECK(output.find("migration failed") != std::string::npos);
}

TEST_CASE("every line the server logs is JSON, from the first to the last", "[e2e][ops]") {
  temp_database db;
  std::vector<std::string> lines;
  {
    server_process srv{db.url(), {"--http.access_log=true"}};
    http_client c{srv.port()};
    REQUIRE(c.get("/healthz").status == 200);
    REQUIRE(c.get("/nowhere").status == 404);
    REQUIRE(c.raw("GET /streams/1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n")
              .status == 400);
    REQUIRE(srv.stop() == 0);
    lines = srv.output();
  }
  REQUIRE(lines.size() >= 5);
  for (const auto& line : lines) {
    INFO(line);
    auto parsed = json::parse(line);
    REQUIRE(std::holds_alternative<json::value>(parsed));
    const auto& doc = std::get<json::value>(parsed);
    CHECK_FALSE(doc.string_or("ts").empty());
    CHECK_FALSE(doc.string_or("level").empty());
    CHECK_FALSE(doc.string_or("msg").empty());
  }
}
