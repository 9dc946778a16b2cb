// The bus of a cluster's node: what its peers committed reaches the actors
// of this node that follow it, as if this node's own actors had sent it
// (see node_bus_actor in interfaces.hpp; peers send with tell_peers).
#include <actors/services.hpp>

#include <caf/all.hpp>

namespace livemart {

namespace {

node_bus_actor::behavior_type node_bus(node_bus_actor::pointer self, search_actor search, stream_index_actor index) {
  auto group = [self](const std::string& name) { return self->home_system().groups().get_local(name); };
  return {
    [search](put_atom, const product& p) { caf::anon_send(search, put_atom::value, p); },
    [search, group](put_atom, const stock_update& u) {
      caf::anon_send(search, put_atom::value, u);
      caf::anon_send(group(product_group_name(u.product_id)), u); // the streams here that show it
    },
    [index](put_atom, const stream_info& s) { caf::anon_send(index, put_atom::value, s); },
    [index](delete_atom, std::uint64_t stream_id) { caf::anon_send(index, delete_atom::value, stream_id); },
    [group](push_atom, std::uint64_t user, const std::string& json) {
      caf::anon_send(group(user_group_name(user)), push_atom::value, json);
    },
    [group](follow_atom, std::uint64_t user, std::uint64_t seller, bool on) {
      caf::anon_send(group(user_group_name(user)), follow_atom::value, seller, on);
    },
    [group](start_atom, std::uint64_t seller, const stream_info& s) {
      caf::anon_send(group(seller_live_group_name()), start_atom::value, seller, s);
    },
  };
}

} // namespace

node_bus_actor spawn_node_bus(caf::actor_system& sys, search_actor search, stream_index_actor index) {
  return sys.spawn(node_bus, std::move(search), std::move(index));
}

} // namespace livemart
