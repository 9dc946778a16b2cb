#include <conf/settings.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace std::string_literals;
using namespace std::string_view_literals;

namespace conf = livemart::conf;

namespace {

/// A fake environment: only the variables put in the map exist.
struct fake_env {
  std::map<std::string, std::string> vars;

  std::function<const char*(const char*)> lookup() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

/// A config file in the temp directory, removed again at the end of the test.
class temp_file {
public:
  explicit temp_file(std::string_view contents) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("livemart_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".conf");
    std::ofstream out{path_, std::ios::binary | std::ios::trunc};
    out << contents;
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  std::string path() const { return path_.string(); }
  std::string flag() const { return "--config=" + path(); }

private:
  std::filesystem::path path_;
};

conf::load_result load(std::vector<std::string> args, const fake_env& env = {}) {
  return conf::load(args, env.lookup());
}

bool any_error_mentions(const std::vector<std::string>& errors, std::string_view text) {
  return std::any_of(errors.begin(), errors.end(),
                     [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

/// A value of a setting's type other than `current` (a setting's printed
/// value): the other boolean, another number, or some text.
std::string other_value(const std::string& current) {
  if (current == "true")
    return "false";
  if (current == "false")
    return "true";
  if (!current.empty() && std::all_of(current.begin(), current.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return current == "7" ? "8" : "7";
  return current == "some-text" ? "other-text" : "some-text";
}

const conf::setting_entry& entry_named(std::string_view name) {
  for (const auto& e : conf::setting_entries())
    if (e.name == name)
      return e;
  FAIL("no setting named " << name);
  throw std::logic_error("unreachable");
}

} // namespace

// --- defaults -------------------------------------------------------------------------

TEST_CASE("config: no sources gives the defaults", "[config]") {
  auto r = load({});
  CHECK(r.errors.empty());
  CHECK(r.arguments.empty());
  CHECK_FALSE(r.help);
  CHECK(r.values.http.address == "127.0.0.1");
  CHECK(r.values.http.port == 8080);
  CHECK(r.values.http.body_bytes_max == 64 * 1024);
  CHECK(r.values.http.access_log);
  CHECK_FALSE(r.values.http.trust_forwarded_for);
  CHECK(r.values.database.url.empty());
  CHECK(r.values.database.write_batch_max == 256);
  CHECK(r.values.auth.access_token_ttl_s == 900);
  CHECK(r.values.auth.jwt_issuer == "livemart");
  CHECK(r.values.node.id == 1);
  CHECK(conf::describe(r.values) == conf::describe(conf::settings{}));
}

TEST_CASE("config: the defaults pass validation", "[config]") {
  auto errors = conf::validate(conf::settings{});
  INFO(joined(errors));
  CHECK(errors.empty());
}

TEST_CASE("config: positional arguments and help", "[config]") {
  auto r = load({"serve", "--http.port=9000", "extra"});
  CHECK(r.errors.empty());
  CHECK(r.arguments == std::vector<std::string>{"serve", "extra"});
  CHECK(r.values.http.port == 9000);
  CHECK_FALSE(r.help);
  CHECK(load({"--help"}).help);
  CHECK(load({"-h"}).help);
  CHECK(load({"migrate", "--help"}).help);
}

// --- the setting table ------------------------------------------------------------------

TEST_CASE("config: setting names are unique and well-formed", "[config]") {
  std::set<std::string_view> names;
  std::set<std::string> env_names;
  for (const auto& e : conf::setting_entries()) {
    CAPTURE(e.name);
    CHECK(names.insert(e.name).second);
    CHECK(env_names.insert(conf::environment_name(e.name)).second);
    CHECK(e.name.find('.') != std::string_view::npos);
    CHECK_FALSE(e.description.empty());
    CHECK(e.parse);
    CHECK(e.print);
  }
  CHECK(names.size() >= 40);
  CHECK(names.count("http.body_bytes_max") == 1);
  CHECK(names.count("auth.access_token_ttl_s") == 1);
  CHECK(names.count("database.url") == 1);
}

TEST_CASE("config: only the URL and the keys are secret", "[config]") {
  std::set<std::string_view> secrets;
  for (const auto& e : conf::setting_entries())
    if (e.secret)
      secrets.insert(e.name);
  CHECK(secrets == std::set<std::string_view>{"auth.jwt_keys", "database.url", "payments.stripe_secret_key",
                                              "payments.webhook_secrets"});
}

TEST_CASE("config: every default prints and parses back", "[config]") {
  const conf::settings defaults;
  REQUIRE(conf::setting_entries().size() >= 40); // the loop below checks something
  for (const auto& e : conf::setting_entries()) {
    CAPTURE(e.name);
    auto text = e.print(defaults);
    // Parsed into settings that hold another value, so that a parse that
    // does nothing cannot pass for one that works.
    conf::settings copy;
    REQUIRE(e.parse(copy, other_value(text)));
    REQUIRE(e.print(copy) != text);
    CHECK(e.parse(copy, text));
    CHECK(e.print(copy) == text);
  }
}

TEST_CASE("config: environment_name", "[config]") {
  CHECK(conf::environment_name("http.body_bytes_max") == "LIVEMART_HTTP_BODY_BYTES_MAX");
  CHECK(conf::environment_name("node.id") == "LIVEMART_NODE_ID");
  CHECK(conf::environment_name("database.url") == "LIVEMART_DATABASE_URL");
  CHECK(conf::environment_name("auth.jwt_keys") == "LIVEMART_AUTH_JWT_KEYS");
}

// --- flags ------------------------------------------------------------------------------

TEST_CASE("config: flags", "[config]") {
  auto r = load({"--http.port=9000", "--auth.jwt_issuer=issuer-x", "--database.write_batch_max=1_000",
                 "--http.access_log=false", "--http.trust_forwarded_for"});
  INFO(joined(r.errors));
  CHECK(r.errors.empty());
  CHECK(r.values.http.port == 9000);
  CHECK(r.values.auth.jwt_issuer == "issuer-x");
  CHECK(r.values.database.write_batch_max == 1000);
  CHECK_FALSE(r.values.http.access_log);
  CHECK(r.values.http.trust_forwarded_for); // a bare boolean flag means true
}

TEST_CASE("config: boolean spellings", "[config]") {
  for (auto yes : {"true", "1", "yes", "on"}) {
    CAPTURE(yes);
    auto r = load({"--http.trust_forwarded_for="s + yes});
    CHECK(r.errors.empty());
    CHECK(r.values.http.trust_forwarded_for);
  }
  for (auto no : {"false", "0", "no", "off"}) {
    CAPTURE(no);
    auto r = load({"--http.access_log="s + no});
    CHECK(r.errors.empty());
    CHECK_FALSE(r.values.http.access_log);
  }
  auto bad = load({"--http.access_log=maybe"});
  CHECK(any_error_mentions(bad.errors, "http.access_log"));
}

TEST_CASE("config: a later flag wins over an earlier one", "[config]") {
  auto r = load({"--http.port=1", "--http.port=2"});
  CHECK(r.errors.empty());
  CHECK(r.values.http.port == 2);
}

TEST_CASE("config: every setting can be set by flag and by environment", "[config]") {
  const conf::settings defaults;
  REQUIRE(conf::setting_entries().size() >= 40); // the loop below checks something
  for (const auto& e : conf::setting_entries()) {
    CAPTURE(e.name);
    auto current = e.print(defaults);
    auto wanted = other_value(current);
    REQUIRE(wanted != current);

    auto by_flag = load({"--" + std::string{e.name} + "=" + wanted});
    CHECK(by_flag.errors.empty());
    CHECK(e.print(by_flag.values) == wanted);

    fake_env env;
    env.vars[conf::environment_name(e.name)] = wanted;
    auto by_env = load({}, env);
    CHECK(by_env.errors.empty());
    CHECK(e.print(by_env.values) == wanted);
  }
}

// --- environment ----------------------------------------------------------------------------

TEST_CASE("config: environment variables", "[config]") {
  fake_env env;
  env.vars["LIVEMART_HTTP_PORT"] = "9100";
  env.vars["LIVEMART_AUTH_JWT_AUDIENCE"] = "aud-x";
  env.vars["LIVEMART_HTTP_ACCESS_LOG"] = "off";
  env.vars["LIVEMART_DATABASE_WRITE_QUEUE_MAX"] = "1_048_576";
  env.vars["UNRELATED"] = "ignored";
  auto r = load({}, env);
  INFO(joined(r.errors));
  CHECK(r.errors.empty());
  CHECK(r.values.http.port == 9100);
  CHECK(r.values.auth.jwt_audience == "aud-x");
  CHECK_FALSE(r.values.http.access_log);
  CHECK(r.values.database.write_queue_max == 1'048'576);
}

TEST_CASE("config: DATABASE_URL", "[config]") {
  SECTION("sets database.url") {
    fake_env env;
    env.vars["DATABASE_URL"] = "postgresql://localhost/livemart";
    CHECK(load({}, env).values.database.url == "postgresql://localhost/livemart");
  }
  SECTION("an empty DATABASE_URL is ignored") {
    fake_env env;
    env.vars["DATABASE_URL"] = "";
    temp_file file{"[database]\nurl = host=filehost\n"};
    CHECK(load({file.flag()}, env).values.database.url == "host=filehost");
  }
  SECTION("LIVEMART_DATABASE_URL wins over DATABASE_URL") {
    fake_env env;
    env.vars["DATABASE_URL"] = "host=generic";
    env.vars["LIVEMART_DATABASE_URL"] = "host=specific";
    CHECK(load({}, env).values.database.url == "host=specific");
  }
  SECTION("DATABASE_URL wins over the file, a flag wins over both") {
    fake_env env;
    env.vars["DATABASE_URL"] = "host=env";
    temp_file file{"[database]\nurl = host=file\n"};
    CHECK(load({file.flag()}, env).values.database.url == "host=env");
    CHECK(load({file.flag(), "--database.url=host=flag"}, env).values.database.url == "host=flag");
  }
}

// --- the config file -----------------------------------------------------------------------------

TEST_CASE("config: file with sections, comments, separators and quotes", "[config]") {
  temp_file file{R"(# livemart test configuration
; another comment style

[http]
address = 0.0.0.0
port = 8181            # trailing comment
body_bytes_max = 1_048_576
access_log = off

[ database ]
url = "host=db dbname=livemart password=p#ss"
write_batch_max=512

[auth]
  jwt_issuer =   "issuer # with hash"
jwt_audience = plain-audience
clock_skew_s = 1_0

[node]
id = 42
)"};
  auto r = load({file.flag()});
  INFO(joined(r.errors));
  CHECK(r.errors.empty());
  CHECK(r.values.http.address == "0.0.0.0");
  CHECK(r.values.http.port == 8181);
  CHECK(r.values.http.body_bytes_max == 1'048'576);
  CHECK_FALSE(r.values.http.access_log);
  CHECK(r.values.database.url == "host=db dbname=livemart password=p#ss");
  CHECK(r.values.database.write_batch_max == 512);
  CHECK(r.values.auth.jwt_issuer == "issuer # with hash");
  CHECK(r.values.auth.jwt_audience == "plain-audience");
  CHECK(r.values.auth.clock_skew_s == 10);
  CHECK(r.values.node.id == 42);
  // Untouched settings keep their defaults.
  CHECK(r.values.http.threads == conf::settings{}.http.threads);
}

TEST_CASE("config: file keys may be written with their full dotted name", "[config]") {
  temp_file file{"http.port = 7070\nauth.jwt_issuer = dotted\n[users]\nbio_length_max = 99\n"};
  auto r = load({file.flag()});
  INFO(joined(r.errors));
  CHECK(r.errors.empty());
  CHECK(r.values.http.port == 7070);
  CHECK(r.values.auth.jwt_issuer == "dotted");
  CHECK(r.values.users.bio_length_max == 99);
}

TEST_CASE("config: files with CRLF line endings", "[config]") {
  temp_file file{"[http]\r\nport = 6060\r\naddress = \"::1\"\r\n"};
  auto r = load({file.flag()});
  INFO(joined(r.errors));
  CHECK(r.errors.empty());
  CHECK(r.values.http.port == 6060);
  CHECK(r.values.http.address == "::1");
}

TEST_CASE("config: a quoted value may be followed by a comment", "[config][bug]") {
  // Quotes exist so values can hold '#'; a comment after the closing quote
  // must not become part of the value (see the report: conf/src/settings.cpp, load_file).
  temp_file file{"[auth]\njwt_issuer = \"issuer#1\"   # the production issuer\n"};
  auto r = load({file.flag()});
  CHECK(r.errors.empty());
  CHECK(r.values.auth.jwt_issuer == "issuer#1");
}

TEST_CASE("config: without --config no file is read", "[config]") {
  // Files that would fail if they were read, where a default would be looked
  // for: livemart.conf and conf/livemart.conf in the working directory.
  static std::atomic<int> counter{0};
  const auto dir = std::filesystem::temp_directory_path()
                   / ("livemart_config_test_cwd_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  struct scratch {
    std::filesystem::path dir;
    std::filesystem::path previous = std::filesystem::current_path();
    ~scratch() {
      std::error_code ec;
      std::filesystem::current_path(previous, ec);
      std::filesystem::remove_all(dir, ec);
    }
  } guard{dir};
  std::filesystem::create_directories(dir / "conf");
  for (const auto& path : {dir / "livemart.conf", dir / "conf" / "livemart.conf"}) {
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out << "this is not = [valid\n";
  }
  // They do fail when read...
  CHECK_FALSE(load({"--config=" + (dir / "livemart.conf").string()}).errors.empty());
  CHECK_FALSE(load({"--config=" + (dir / "conf" / "livemart.conf").string()}).errors.empty());
  // ...and without --config, from beside them, nothing is read.
  std::filesystem::current_path(dir);
  auto r = load({});
  std::filesystem::current_path(guard.previous);
  CHECK(r.errors.empty());
  CHECK(conf::describe(r.values) == conf::describe(conf::settings{}));
}

// --- precedence --------------------------------------------------------------------------------

TEST_CASE("config: defaults < file < environment < flags", "[config]") {
  temp_file file{"[http]\nport = 1000\nthreads = 3\n[auth]\njwt_issuer = from-file\n"};
  fake_env env;
  env.vars["LIVEMART_HTTP_PORT"] = "2000";
  env.vars["LIVEMART_AUTH_JWT_ISSUER"] = "from-env";

  SECTION("file only") {
    auto r = load({file.flag()});
    CHECK(r.errors.empty());
    CHECK(r.values.http.port == 1000);
    CHECK(r.values.http.threads == 3);
    CHECK(r.values.auth.jwt_issuer == "from-file");
  }
  SECTION("environment over file") {
    auto r = load({file.flag()}, env);
    CHECK(r.errors.empty());
    CHECK(r.values.http.port == 2000);
    CHECK(r.values.auth.jwt_issuer == "from-env");
    CHECK(r.values.http.threads == 3); // not in the environment: the file's value stays
  }
  SECTION("flags over environment and file") {
    auto r = load({"--http.port=3000", file.flag()}, env); // flag order does not matter
    CHECK(r.errors.empty());
    CHECK(r.values.http.port == 3000);
    CHECK(r.values.auth.jwt_issuer == "from-env");
    CHECK(r.values.http.threads == 3);
  }
  SECTION("flags over defaults") {
    auto r = load({"--http.threads=5"});
    CHECK(r.values.http.threads == 5);
    CHECK(r.values.http.port == 8080);
  }
}

// --- errors -----------------------------------------------------------------------------------

TEST_CASE("config: unknown settings are errors naming the setting", "[config]") {
  SECTION("flag") {
    auto r = load({"--http.nope=1"});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find("http.nope") != std::string::npos);
    CHECK(r.errors[0].find("unknown") != std::string::npos);
  }
  SECTION("file") {
    temp_file file{"[http]\nnope = 1\n"};
    auto r = load({file.flag()});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find("http.nope") != std::string::npos);
    CHECK(r.errors[0].find(file.path() + ":2") != std::string::npos); // file and line
  }
  SECTION("a key outside any section") {
    temp_file file{"port = 1\n"};
    auto r = load({file.flag()});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find("port") != std::string::npos);
  }
  SECTION("an unknown section") {
    temp_file file{"[htp]\nport = 1\n"};
    auto r = load({file.flag()});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find("htp.port") != std::string::npos);
  }
  SECTION("unrelated environment variables are not errors") {
    fake_env env;
    env.vars["LIVEMART_NOT_A_SETTING"] = "1";
    CHECK(load({}, env).errors.empty());
  }
}

TEST_CASE("config: bad values are errors naming the setting and the source", "[config]") {
  SECTION("flags") {
    for (auto arg : {"--http.port=abc", "--http.port=70000", "--http.port=-1", "--http.port=", "--http.port=+80",
                     "--http.port=80.5", "--http.port=0x50", "--http.port=_", "--http.port"}) {
      CAPTURE(arg);
      auto r = load({arg});
      REQUIRE(r.errors.size() == 1);
      CHECK(r.errors[0].find("http.port") != std::string::npos);
      CHECK(r.errors[0].find("flag") != std::string::npos);
      CHECK(r.values.http.port == 8080); // unchanged
    }
  }
  SECTION("environment") {
    fake_env env;
    env.vars["LIVEMART_DATABASE_READ_CONNECTIONS"] = "four";
    auto r = load({}, env);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find("database.read_connections") != std::string::npos);
    CHECK(r.errors[0].find("LIVEMART_DATABASE_READ_CONNECTIONS") != std::string::npos);
  }
  SECTION("file") {
    temp_file file{"[auth]\naccess_token_ttl_s = fifteen minutes\n"};
    auto r = load({file.flag()});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find("auth.access_token_ttl_s") != std::string::npos);
    CHECK(r.errors[0].find(file.path()) != std::string::npos);
  }
  SECTION("numbers out of range for their type") {
    CHECK(any_error_mentions(load({"--node.id=4294967296"}).errors, "node.id"));
    CHECK(any_error_mentions(load({"--http.read_timeout_ms=99999999999"}).errors, "http.read_timeout_ms"));
  }
}

TEST_CASE("config: every error is reported, and good values still apply", "[config]") {
  temp_file file{"[http]\nport = x\nthreads = 4\nbogus = 1\n"};
  fake_env env;
  env.vars["LIVEMART_NODE_ID"] = "node-one";
  auto r = load({file.flag(), "--auth.clock_skew_s=soon", "--http.body_bytes_max=2048"}, env);
  CHECK(r.errors.size() == 4);
  CHECK(any_error_mentions(r.errors, "http.port"));
  CHECK(any_error_mentions(r.errors, "http.bogus"));
  CHECK(any_error_mentions(r.errors, "node.id"));
  CHECK(any_error_mentions(r.errors, "auth.clock_skew_s"));
  CHECK(r.values.http.threads == 4);
  CHECK(r.values.http.body_bytes_max == 2048);
}

TEST_CASE("config: malformed files", "[config]") {
  SECTION("a missing file") {
    auto missing = (std::filesystem::temp_directory_path() / "livemart_config_test_does_not_exist.conf").string();
    auto r = load({"--config=" + missing});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find(missing) != std::string::npos);
  }
  SECTION("a broken section header") {
    temp_file file{"[http\nport = 1\n"};
    auto r = load({file.flag()});
    CHECK_FALSE(r.errors.empty());
    CHECK(any_error_mentions(r.errors, file.path() + ":1"));
  }
  SECTION("a line without '='") {
    temp_file file{"[http]\nport 9000\n"};
    auto r = load({file.flag()});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].find(file.path() + ":2") != std::string::npos);
  }
}

// --- validate ----------------------------------------------------------------------------------

TEST_CASE("config validate: limits and security floors", "[config]") {
  auto errors_for = [](auto change) {
    conf::settings s;
    change(s);
    return conf::validate(s);
  };
  auto rejected = [&](auto change, std::string_view name) {
    auto errors = errors_for(change);
    INFO(joined(errors));
    return errors.size() == 1 && errors[0].find(name) != std::string::npos;
  };
  auto accepted = [&](auto change) { return errors_for(change).empty(); };

  SECTION("access tokens live 15 minutes at most") {
    CHECK(accepted([](conf::settings& s) { s.auth.access_token_ttl_s = 900; }));
    CHECK(accepted([](conf::settings& s) { s.auth.access_token_ttl_s = 1; }));
    CHECK(rejected([](conf::settings& s) { s.auth.access_token_ttl_s = 901; }, "auth.access_token_ttl_s"));
    CHECK(rejected([](conf::settings& s) { s.auth.access_token_ttl_s = 3600; }, "auth.access_token_ttl_s"));
    CHECK(rejected([](conf::settings& s) { s.auth.access_token_ttl_s = 0; }, "auth.access_token_ttl_s"));
  }
  SECTION("an order change fits in the budget of the request that asks for it") {
    // Defaults: 2 x 4 s at the gateway + 3 x 4 s of steps + one 4 s hop = 24 s <= 25 s.
    CHECK(accepted([](conf::settings& s) { s.http.change_timeout_ms = 24'000; }));
    CHECK(rejected([](conf::settings& s) { s.http.change_timeout_ms = 23'999; }, "http.change_timeout_ms"));
    CHECK(rejected([](conf::settings& s) { s.payments.gateway_timeout_ms = 9'000; }, "http.change_timeout_ms"));
    CHECK(accepted([](conf::settings& s) {
      s.payments.gateway_timeout_ms = 9'000;
      s.http.change_timeout_ms = 34'000;
    }));
  }
  SECTION("Argon2id floors") {
    CHECK(accepted([](conf::settings& s) { s.auth.argon2_memory_kib = 19456; }));
    CHECK(accepted([](conf::settings& s) { s.auth.argon2_memory_kib = 65536; }));
    CHECK(rejected([](conf::settings& s) { s.auth.argon2_memory_kib = 19455; }, "auth.argon2_memory_kib"));
    CHECK(accepted([](conf::settings& s) { s.auth.argon2_iterations = 2; }));
    CHECK(rejected([](conf::settings& s) { s.auth.argon2_iterations = 1; }, "auth.argon2_iterations"));
  }
  SECTION("password lengths") {
    CHECK(rejected([](conf::settings& s) { s.auth.password_length_min = 7; }, "auth.password_length_min"));
    CHECK(rejected([](conf::settings& s) { s.auth.password_length_max = 7; }, "auth.password_length_max"));
    CHECK(rejected([](conf::settings& s) { s.auth.password_length_max = 1025; }, "auth.password_length_max"));
    CHECK(accepted([](conf::settings& s) {
      s.auth.password_length_min = 12;
      s.auth.password_length_max = 12;
    }));
    CHECK(rejected(
        [](conf::settings& s) {
          s.auth.password_length_min = 20;
          s.auth.password_length_max = 19;
        },
        "auth.password_length_max"));
  }
  SECTION("node id") {
    CHECK(accepted([](conf::settings& s) { s.node.id = 0; }));
    CHECK(accepted([](conf::settings& s) { s.node.id = 1023; }));
    CHECK(rejected([](conf::settings& s) { s.node.id = 1024; }, "node.id"));
  }
  SECTION("sizes and counts") {
    CHECK(rejected([](conf::settings& s) { s.http.threads = 0; }, "http.threads"));
    CHECK(rejected([](conf::settings& s) { s.http.header_bytes_max = 1023; }, "http.header_bytes_max"));
    CHECK(rejected([](conf::settings& s) { s.http.body_bytes_max = 1023; }, "http.body_bytes_max"));
    CHECK(accepted([](conf::settings& s) { s.http.body_bytes_max = 1024; }));
    CHECK(rejected([](conf::settings& s) { s.http.connections_max = 0; }, "http.connections_max"));
    CHECK(rejected([](conf::settings& s) { s.http.request_timeout_ms = 0; }, "http.request_timeout_ms"));
    CHECK(rejected([](conf::settings& s) { s.database.read_connections = 0; }, "database.read_connections"));
    CHECK(rejected([](conf::settings& s) { s.database.write_batch_max = 0; }, "database.write_batch_max"));
    CHECK(rejected([](conf::settings& s) { s.actors.scheduler_threads = 0; }, "actors.scheduler_threads"));
    CHECK(rejected([](conf::settings& s) { s.actors.user_shards = 0; }, "actors.user_shards"));
    CHECK(rejected([](conf::settings& s) { s.auth.hash_workers = 0; }, "auth.hash_workers"));
    CHECK(rejected([](conf::settings& s) { s.ws.close_timeout_ms = 99; }, "ws.close_timeout_ms"));
    CHECK(accepted([](conf::settings& s) { s.ws.send_buffer_bytes = 4096; }));
    CHECK(rejected([](conf::settings& s) { s.ws.send_buffer_bytes = 1023; }, "ws.send_buffer_bytes"));
    CHECK(rejected([](conf::settings& s) { s.ws.send_buffer_bytes = 65 * 1024 * 1024; }, "ws.send_buffer_bytes"));
  }
  SECTION("a cluster: slots a power of two, liveness windows that fit, a port that faces no internet") {
    CHECK(accepted([](conf::settings& s) { s.cluster.slots = 1; }));
    CHECK(rejected([](conf::settings& s) { s.cluster.slots = 1000; }, "cluster.slots"));
    CHECK(rejected([](conf::settings& s) { s.cluster.slots = 0; }, "cluster.slots"));
    CHECK(rejected([](conf::settings& s) { s.cluster.member_ttl_ms = 2'999; }, "cluster.member_ttl_ms"));
    CHECK(rejected([](conf::settings& s) { s.cluster.link_timeout_ms = 999; }, "cluster.link_timeout_ms"));
    for (const char* address : {"127.0.0.1", "10.1.2.3", "172.16.0.9", "172.31.255.1", "192.168.7.7", "::1", "fd00::7"})
      CHECK(accepted([address](conf::settings& s) {
        s.cluster.enabled = true;
        s.cluster.address = address;
      }));
    for (const char* address : {"0.0.0.0", "172.32.0.1", "8.8.8.8", "::", "2001:db8::1", "localhost", ""})
      CHECK(rejected(
        [address](conf::settings& s) {
          s.cluster.enabled = true;
          s.cluster.address = address;
        },
        "cluster.address"));
    // Off, the address is not used.
    CHECK(accepted([](conf::settings& s) { s.cluster.address = "0.0.0.0"; }));
  }
  SECTION("several problems are all reported") {
    auto errors = errors_for([](conf::settings& s) {
      s.auth.access_token_ttl_s = 3600;
      s.auth.argon2_iterations = 1;
      s.node.id = 5000;
    });
    CHECK(errors.size() == 3);
    CHECK(any_error_mentions(errors, "auth.access_token_ttl_s"));
    CHECK(any_error_mentions(errors, "auth.argon2_iterations"));
    CHECK(any_error_mentions(errors, "node.id"));
  }
}

TEST_CASE("config validate: a loaded ttl over 900 is rejected", "[config]") {
  auto r = load({"--auth.access_token_ttl_s=901"});
  CHECK(r.errors.empty()); // it parses...
  auto errors = conf::validate(r.values);
  REQUIRE(errors.size() == 1); // ...but makes no sense
  CHECK(errors[0].find("auth.access_token_ttl_s") != std::string::npos);
}

// --- describe and help ---------------------------------------------------------------------------

TEST_CASE("config describe: one line per setting, secrets masked", "[config]") {
  conf::settings s;
  auto unset = conf::describe(s);
  CHECK(unset.find("http.port = 8080\n") != std::string::npos);
  CHECK(unset.find("http.access_log = true\n") != std::string::npos);
  CHECK(unset.find("database.url = <unset>\n") != std::string::npos);
  CHECK(unset.find("auth.jwt_keys = <unset>\n") != std::string::npos);
  CHECK(static_cast<std::size_t>(std::count(unset.begin(), unset.end(), '\n')) == conf::setting_entries().size());

  s.database.url = "postgresql://app:hunter2@db.internal/livemart";
  s.auth.jwt_keys = "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  s.http.port = 9999;
  auto set = conf::describe(s);
  CHECK(set.find("database.url = <set>\n") != std::string::npos);
  CHECK(set.find("auth.jwt_keys = <set>\n") != std::string::npos);
  CHECK(set.find("hunter2") == std::string::npos);
  CHECK(set.find("db.internal") == std::string::npos);
  CHECK(set.find("00112233") == std::string::npos);
  CHECK(set.find("http.port = 9999\n") != std::string::npos);
}

TEST_CASE("config help_text lists every setting", "[config]") {
  auto help = conf::help_text();
  REQUIRE(conf::setting_entries().size() >= 40); // the loop below checks something
  for (const auto& e : conf::setting_entries()) {
    CAPTURE(e.name);
    CHECK(help.find("--" + std::string{e.name} + "=") != std::string::npos);
    CHECK(help.find(std::string{e.description}) != std::string::npos);
  }
  CHECK(help.find("--http.port=8080") != std::string::npos);
  CHECK(help.find("--database.url=<secret>") != std::string::npos);
  CHECK(help.find("--auth.jwt_keys=<secret>") != std::string::npos);
  CHECK(help.find("LIVEMART_") != std::string::npos);
  CHECK(help.find("--config") != std::string::npos);
}

TEST_CASE("config: the entry table reads and writes the settings struct", "[config]") {
  conf::settings s;
  CHECK(entry_named("http.port").parse(s, " 1234 "));
  CHECK(s.http.port == 1234);
  CHECK(entry_named("http.port").print(s) == "1234");
  CHECK_FALSE(entry_named("http.port").parse(s, "65536"));
  CHECK(s.http.port == 1234);
  CHECK(entry_named("auth.jwt_issuer").parse(s, "\"quoted\""));
  CHECK(s.auth.jwt_issuer == "quoted");
  CHECK(entry_named("http.trust_forwarded_for").parse(s, "yes"));
  CHECK(s.http.trust_forwarded_for);
  CHECK(entry_named("database.write_flush_interval_us").parse(s, "1_000_000"));
  CHECK(s.database.write_flush_interval_us == 1'000'000);
}

TEST_CASE("config: conf/livemart.conf names every setting under its section", "[config]") {
  // Set or commented out ("# key = default"): the file is where an operator
  // looks for what can be tuned.
  std::ifstream in{LIVEMART_SOURCE_DIR "/conf/livemart.conf"};
  REQUIRE(in);
  std::set<std::string> listed;
  std::string section;
  for (std::string line; std::getline(in, line);) {
    auto text = line;
    if (text.rfind("# ", 0) == 0)
      text.erase(0, 2);
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
      section = text.substr(1, text.size() - 2);
      continue;
    }
    auto eq = text.find(" = ");
    if (eq == std::string::npos || section.empty())
      continue;
    auto key = text.substr(0, eq);
    if (std::all_of(key.begin(), key.end(), [](char c) { return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_'; }))
      listed.insert(section + "." + key);
  }
  std::vector<std::string> missing;
  for (const auto& e : livemart::conf::setting_entries())
    if (!e.secret && listed.count(std::string{e.name}) == 0)
      missing.emplace_back(e.name);
  for (const auto& name : missing)
    FAIL_CHECK("conf/livemart.conf does not name " << name);
  CHECK(missing.empty());
}
