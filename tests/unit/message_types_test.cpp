// Every type in every typed actor interface has a portable name, so a
// message can leave the node (the cluster sends them between nodes): CAF
// only finds out at run time, when one is first serialised.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <caf/all.hpp>

#include <actors/interfaces.hpp>
#include <actors/services.hpp>
#include <persistence/database.hpp>
#include <protocol/messages.hpp>

using namespace livemart;

namespace {

/// Every handle declared in actors/include/actors/interfaces.hpp, then the
/// database's. A new interface must be added here (the count is checked).
using interfaces = caf::detail::type_list<
  hasher_actor, limiter_actor, user_shard_actor, auth_actor, sessions_actor, address_actor, seller_actor,
  category_actor, search_actor, product_actor, product_registry_actor, product_service_actor, review_actor,
  checkout_actor, gateway_actor, order_actor, order_registry_actor, order_service_actor, stream_actor,
  stream_registry_actor, stream_index_actor, stream_service_actor, health_actor, node_bus_actor, cluster_actor,
  persistence::reader_actor,
  persistence::writer_actor>;
constexpr std::size_t declared_in_interfaces_hpp = 25;

/// The signatures of `Handle` whose types CAF cannot name.
template <class Handle>
void collect_unnamed(const caf::actor_system& sys, std::vector<std::string>& out) {
  for (const auto& signature : sys.message_types<Handle>())
    if (signature.find("<invalid-type") != std::string::npos)
      out.push_back(signature);
}

template <class... Handles>
std::vector<std::string> unnamed(const caf::actor_system& sys, caf::detail::type_list<Handles...>) {
  std::vector<std::string> out;
  (collect_unnamed<Handles>(sys, out), ...);
  return out;
}

} // namespace

TEST_CASE("every type of every actor interface has a portable name", "[unit][messages]") {
  caf::actor_system_config cfg;
  add_actor_message_types(cfg);
  caf::actor_system sys{cfg};
  auto missing = unnamed(sys, interfaces{});
  for (const auto& signature : missing)
    FAIL_CHECK("not registered (add_actor_message_types): " << signature);
  CHECK(missing.empty());
}

TEST_CASE("the list of interfaces above names every one of interfaces.hpp", "[unit][messages]") {
  std::ifstream in{LIVEMART_SOURCE_DIR "/actors/include/actors/interfaces.hpp"};
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  auto source = text.str();
  std::regex declaration{R"(using [a-z_]+_actor = (caf::typed_actor|registry_of)<)"};
  auto count = static_cast<std::size_t>(
    std::distance(std::sregex_iterator(source.begin(), source.end(), declaration), std::sregex_iterator()));
  CHECK(count == declared_in_interfaces_hpp);
}
