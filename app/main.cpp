// livemart: the live-shopping marketplace backend.
//
//   livemart serve         run the HTTP server
//   livemart migrate       apply database migrations
//   livemart create-admin  create or promote the first admin account
//   livemart seed          fill an empty catalog with demo data
//   livemart reconcile     compare our payments with the gateway's records
//   livemart config        print the effective settings
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <charconv>

#include <caf/all.hpp>
#include <sodium.h>

#include <actors/cluster.hpp>
#include <actors/services.hpp>
#include <conf/settings.hpp>
#include <http/server.hpp>
#include <http/stripe_gateway.hpp>
#include <persistence/admin.hpp>
#include <persistence/migrations.hpp>
#include <protocol/failpoint.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>
#include <protocol/messages.hpp>
#include <protocol/metrics.hpp>
#include <protocol/validation.hpp>
#include <protocol/wire/payments.hpp>

#include "seed.hpp"
#include <protocol/clock.hpp>

namespace {

using namespace livemart;

constexpr const char* usage = R"(usage: livemart <command> [--config=FILE] [--section.key=value ...]

commands:
  serve                 run the HTTP server (logs {"msg":"listening","url":"http://ADDRESS:PORT",...})
  migrate               apply the database migrations compiled into this binary
  create-admin EMAIL    create an admin account or promote an existing one; the password
                        comes from LIVEMART_ADMIN_PASSWORD or the first line of standard input
  seed [seed=N] [products=N] [sellers=N]
                        fill an empty catalog with a demo catalog (default seed=42,
                        products=100000, sellers=200; the same seed gives the same catalog)
                        and print the demo admin, seller and buyer accounts; a catalog
                        that has categories or products is left alone. Run it before
                        `serve` (a running server loads its search index at start)
  reconcile [hours=N] [from=UNIX] [to=UNIX]
                        compare the payments created in a window (default: the last
                        payments.reconcile_window_h hours) with the gateway's records and
                        print the mismatches as JSON; exit status 3 when there are any.
                        It only reports: the serving node owns the orders and repairs them
                        (periodically, or POST /admin/payments/reconcile?repair=true).
                        Needs payments.gateway=stripe: the sandbox keeps its records in
                        the serving process
  config                print the effective settings (secrets masked)
  routes                print every route the server answers, one "METHOD /pattern" a line
  help                  this text

)";

int fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "livemart: %s\n", message.c_str());
  return code;
}

int run_migrate(const conf::settings& cfg) {
  if (cfg.database.url.empty())
    return fail("no database: set DATABASE_URL or --database.url");
  auto result = persistence::migrate(cfg.database.url, cfg.database.connect_timeout_s);
  if (auto* err = std::get_if<std::string>(&result))
    return fail("migration failed: " + *err);
  const auto& report = std::get<persistence::migration_report>(result);
  for (const auto& name : report.applied)
    std::printf("applied %s\n", name.c_str());
  std::printf("migrations: %zu applied now, %zu already applied\n", report.applied.size(), report.already_applied);
  return 0;
}

int run_create_admin(const conf::settings& cfg, const std::vector<std::string>& args) {
  if (args.size() != 1)
    return fail("usage: livemart create-admin EMAIL (password from LIVEMART_ADMIN_PASSWORD or stdin)", 2);
  if (cfg.database.url.empty())
    return fail("no database: set DATABASE_URL or --database.url");
  auto email = validation::normalize_email(args.front());
  if (!email)
    return fail("not a valid e-mail address: " + args.front(), 2);
  std::string password;
  if (const char* env = std::getenv("LIVEMART_ADMIN_PASSWORD"); env != nullptr && *env != '\0')
    password = env;
  else if (!std::getline(std::cin, password))
    return fail("no password given", 2);
  auto verdict = validation::check_password(password, cfg.auth.password_length_min, cfg.auth.password_length_max);
  if (verdict != validation::password_verdict::ok)
    return fail("password rejected: " + std::string{validation::describe(verdict)}, 2);
  if (sodium_init() < 0)
    return fail("libsodium failed to initialise");
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, password.data(), password.size(), cfg.auth.argon2_iterations,
                            cfg.auth.argon2_memory_kib * 1024, crypto_pwhash_ALG_ARGON2ID13)
      != 0)
    return fail("out of memory while hashing");
  auto result = persistence::upsert_admin(cfg.database.url, cfg.database.connect_timeout_s, *email, hash, "Administrator");
  if (auto* err = std::get_if<std::string>(&result))
    return fail("cannot create admin: " + *err);
  const auto& user = std::get<user_profile>(result);
  std::printf("admin %s (id %s) is ready\n", user.email.c_str(), ids::format(user.id).c_str());
  return 0;
}

int run_seed(const conf::settings& cfg, const std::vector<std::string>& args) {
  if (cfg.database.url.empty())
    return fail("no database: set DATABASE_URL or --database.url");
  demo::seed_plan plan;
  for (const auto& arg : args) {
    auto eq = arg.find('=');
    auto key = arg.substr(0, eq);
    std::uint64_t value = 0;
    auto text = eq == std::string::npos ? std::string{} : arg.substr(eq + 1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
      return fail("seed: expected seed=N, products=N or sellers=N, got " + arg, 2);
    if (key == "seed")
      plan.seed = value;
    else if (key == "products" && value <= 10'000'000)
      plan.products = value;
    else if (key == "sellers" && value >= 1 && value <= 100'000)
      plan.sellers = value;
    else
      return fail("seed: expected seed=N, products=N (at most 10000000) or sellers=N (1 to 100000), got " + arg, 2);
  }
  auto result = demo::seed_catalog(cfg, plan);
  if (auto* err = std::get_if<std::string>(&result))
    return fail("seeding failed (nothing was written): " + *err);
  const auto& report = std::get<demo::seed_report>(result);
  if (report.skipped) {
    std::printf("the catalog already has categories or products; nothing seeded\n");
    return 0;
  }
  std::printf("seeded %zu categories, %zu shops and %zu products (seed %llu) in %.1f s\n", report.categories,
              report.sellers, report.products, static_cast<unsigned long long>(plan.seed), report.seconds);
  std::printf("demo accounts (local use only):\n");
  for (const auto& a : report.accounts)
    std::printf("  %-6s  %-32s  password: %s\n", a.role.c_str(), a.email.c_str(), a.password.c_str());
  return 0;
}

/// CAF's scheduler, from the [actors] settings.
void scheduler_config(const conf::settings& cfg, caf::actor_system_config& caf_cfg) {
  caf_cfg.set("scheduler.max-threads", cfg.actors.scheduler_threads);
  caf_cfg.set("scheduler.policy", caf::atom_from_string(cfg.actors.scheduler_policy));
  caf_cfg.set("work-stealing.aggressive-poll-attempts", cfg.actors.scheduler_spin_polls);
  caf_cfg.set("work-stealing.moderate-poll-attempts", cfg.actors.scheduler_nap_polls);
}

/// The payment gateway payments.gateway names: the built-in sandbox, or
/// Stripe's REST API (whose client lives with the HTTP code).
gateway_factory gateway_for(const conf::settings& cfg) {
  if (cfg.payments.gateway == "stripe")
    return [](caf::actor_system& sys, const conf::settings& c) { return http::spawn_stripe_gateway(sys, c); };
  return {};
}

int run_serve(const conf::settings& cfg) {
  if (cfg.database.url.empty())
    return fail("no database: set DATABASE_URL or --database.url");
  auto keys = jwt::parse_keys(cfg.auth.jwt_keys);
  if (auto* err = std::get_if<std::string>(&keys))
    return fail("auth.jwt_keys (LIVEMART_AUTH_JWT_KEYS): " + *err);
  jwt::config tokens{std::get<std::vector<jwt::key>>(keys), cfg.auth.jwt_issuer, cfg.auth.jwt_audience,
                     cfg.auth.access_token_ttl_s, cfg.auth.clock_skew_s};
  // Failure points (test builds): armed before any thread starts.
  if (const char* spec = std::getenv("LIVEMART_FAILPOINTS"); spec != nullptr)
    if (auto err = failpoint::arm(spec); !err.empty())
      return fail("LIVEMART_FAILPOINTS: " + err);

  caf::actor_system_config caf_cfg;
  scheduler_config(cfg, caf_cfg);
  add_actor_message_types(caf_cfg);
  if (cfg.cluster.enabled)
    cluster_config(cfg, caf_cfg);
  caf::actor_system sys{caf_cfg};

  log::start();
  auto svc = start_services(sys, cfg, tokens, gateway_for(cfg));
  // A node the others declared dead stops serving: its slots are owned
  // elsewhere now (its writes would fail at the fence anyway).
  static std::atomic<bool> evicted{false};
  std::string cluster_address;
  int status = 0;
  if (cfg.cluster.enabled) {
    auto node = spawn_cluster(sys, cfg, svc, [] {
      evicted = true;
      std::raise(SIGTERM);
    });
    if (auto* err = std::get_if<std::string>(&node)) {
      status = fail(*err);
    } else {
      svc.cluster = std::get<cluster_node>(node).actor;
      cluster_address = std::get<cluster_node>(node).address;
    }
  }
  metrics::registry::global().make_callback_gauge(
    "livemart_actors_running", "Actors alive in this node", [&sys] { return static_cast<double>(sys.registry().running()); });
  // A small catalog is searchable before the first request; a large one
  // loads while the node serves (searches answer 503 search-loading until
  // it is in), so a restart is never held up by the index.
  if (status == 0) {
    caf::scoped_actor self{sys};
    self->request(svc.search, std::chrono::milliseconds{cfg.catalog.search_ready_wait_ms}, ready_atom::value)
      .receive([](std::uint64_t) {},
               [](caf::error&) { log::info("serving while the search index loads"); });
    // Nor may a token of a session that ended before this start be taken.
    if (status == 0)
      self->request(svc.sessions, std::chrono::milliseconds{cfg.actors.step_timeout_ms}, caf::get_atom::value)
        .receive(
          [&](std::uint64_t ended) { log::info("ended sessions loaded", "\"sessions\":" + std::to_string(ended)); },
          [&](caf::error& err) { status = fail("the ended sessions did not load: " + to_problem(err).detail); });
  }
  if (status != 0) {
    stop_services(svc);
    sys.await_all_actors_done();
    log::stop();
    return status;
  }
  {
    http::server front_door{sys, cfg, tokens, svc};
    std::uint16_t port = 0;
    try {
      port = front_door.start();
    } catch (const std::exception& e) {
      status = fail(e.what());
    }
    if (status == 0 && svc.cluster) {
      // A member from here on: it claims its slots at its first beat.
      // Seeds are asked first (each within cluster.connect_timeout_ms).
      caf::scoped_actor self{sys};
      auto seeds = static_cast<std::uint32_t>(std::count(cfg.cluster.seeds.begin(), cfg.cluster.seeds.end(), ',') + 1);
      auto budget = std::chrono::milliseconds{cfg.actors.step_timeout_ms + 2 * seeds * cfg.cluster.connect_timeout_ms};
      self->request(svc.cluster, budget, join_atom::value, cluster_address,
                    cfg.http.address + ":" + std::to_string(port))
        .receive([](const cluster_view&) {},
                 [&](caf::error& err) { status = fail("cannot join the cluster: " + to_problem(err).detail); });
    }
    if (status == 0) {
      // Scripts and tests wait for this line to learn the port.
      log::info("listening", "\"url\":\"http://" + cfg.http.address + ":" + std::to_string(port) + "\",\"port\":"
                               + std::to_string(port) + ",\"node\":" + std::to_string(cfg.node.id)
                               + (cluster_address.empty() ? std::string{} : ",\"cluster\":\"" + cluster_address + "\""));
      front_door.run_until_stopped();
    } else {
      front_door.stop();
      front_door.run_until_stopped();
    }
  }
  // The front door is closed; a second signal must not cut the final
  // commits short (the writer flushes its queue on exit).
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  // A graceful stop hands this node's slots to the others at once.
  if (svc.cluster && !evicted && status == 0)
    leave_cluster(sys, svc.cluster, std::chrono::milliseconds{cfg.actors.step_timeout_ms});
  if (evicted)
    status = 3;
  stop_services(svc);
  sys.await_all_actors_done();
  log::info("stopped");
  log::stop();
  return status;
}

int run_reconcile(conf::settings cfg, const std::vector<std::string>& args) {
  if (cfg.database.url.empty())
    return fail("no database: set DATABASE_URL or --database.url");
  if (cfg.payments.gateway != "stripe")
    return fail("reconcile compares with the gateway's records, and the sandbox gateway keeps them in the serving "
                "process: use POST /admin/payments/reconcile there",
                2);
  auto now = wall_clock::now_s();
  std::int64_t hours = cfg.payments.reconcile_window_h;
  std::int64_t from = -1;
  std::int64_t to = now + 1;
  for (const auto& arg : args) {
    auto eq = arg.find('=');
    auto key = arg.substr(0, eq);
    auto text = eq == std::string::npos ? std::string{} : arg.substr(eq + 1);
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || value < 0)
      return fail("reconcile: expected hours=N, from=UNIX or to=UNIX, got " + arg, 2);
    if (key == "hours")
      hours = value;
    else if (key == "from")
      from = value;
    else if (key == "to")
      to = value;
    else
      return fail("reconcile: expected hours=N, from=UNIX or to=UNIX, got " + arg, 2);
  }
  if (from < 0)
    from = to - hours * 3600;
  if (from >= to)
    return fail("reconcile: from must be before to", 2);
  // A tool, not a node: no sweepers here, and no repairs (the serving node
  // owns the orders' actors; a second writer would leave them stale).
  cfg.node.background_jobs = false;
  caf::actor_system_config caf_cfg;
  scheduler_config(cfg, caf_cfg);
  add_actor_message_types(caf_cfg);
  caf::actor_system sys{caf_cfg};
  auto svc = start_services(sys, cfg, jwt::config{}, gateway_for(cfg));
  int status = 0;
  {
    caf::scoped_actor self{sys};
    // Up to 100 pages from the gateway, each within its timeout.
    auto budget = std::chrono::milliseconds{101 * cfg.payments.gateway_timeout_ms};
    self->request(svc.orders, budget, reconcile_atom::value, from, to, false)
      .receive(
        [&](const reconcile_report& report) {
          std::printf("%s\n", encode(report).c_str());
          if (!report.mismatches.empty())
            status = 3;
        },
        [&](caf::error& err) { status = fail("reconciliation failed: " + to_problem(err).detail); });
  }
  stop_services(svc);
  sys.await_all_actors_done();
  return status;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words.front() == "help" || words.front() == "--help" || words.front() == "-h") {
    std::fputs(usage, stdout);
    std::fputs(conf::help_text().c_str(), stdout);
    return words.empty() ? 2 : 0;
  }
  auto command = words.front();
  std::vector<std::string> rest(words.begin() + 1, words.end());
  auto loaded = conf::load(rest, [](const char* name) { return std::getenv(name); });
  if (loaded.help) {
    std::fputs(usage, stdout);
    std::fputs(conf::help_text().c_str(), stdout);
    return 0;
  }
  auto problems = loaded.errors;
  for (auto& e : conf::validate(loaded.values))
    problems.push_back(std::move(e));
  if (!problems.empty()) {
    for (const auto& e : problems)
      std::fprintf(stderr, "livemart: %s\n", e.c_str());
    return 2;
  }
  const auto& cfg = loaded.values;
  ids::set_node(cfg.node.id);
  if (command == "serve" && loaded.arguments.empty())
    return run_serve(cfg);
  if (command == "migrate" && loaded.arguments.empty())
    return run_migrate(cfg);
  if (command == "seed")
    return run_seed(cfg, loaded.arguments);
  if (command == "reconcile")
    return run_reconcile(cfg, loaded.arguments);
  if (command == "create-admin")
    return run_create_admin(cfg, loaded.arguments);
  if (command == "routes" && loaded.arguments.empty()) {
    for (const auto& line : http::route_table())
      std::printf("%s\n", line.c_str());
    return 0;
  }
  if (command == "config" && loaded.arguments.empty()) {
    std::fputs(conf::describe(cfg).c_str(), stdout);
    return 0;
  }
  std::fprintf(stderr, "livemart: unknown command or extra arguments\n%s", usage);
  return 2;
}
