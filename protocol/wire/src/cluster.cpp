#include <protocol/wire/cluster.hpp>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>

namespace livemart {

std::string encode_cluster_view(const cluster_view& v) {
  json::writer w;
  w.begin_object().field("enabled", v.enabled).field("node", static_cast<std::int64_t>(v.node_id));
  if (v.enabled) {
    w.field("incarnation", ids::format(v.incarnation))
      .field("protocol", std::string_view{cluster_protocol})
      .field("slots", static_cast<std::int64_t>(v.slots))
      .field("owned", static_cast<std::int64_t>(v.owned))
      .field("moving", static_cast<std::int64_t>(v.moving))
      .field("version", static_cast<std::int64_t>(v.version));
  }
  w.key("members").begin_array();
  for (const auto& m : v.members) {
    w.begin_object()
      .field("node", static_cast<std::int64_t>(m.node_id))
      .field("incarnation", ids::format(m.incarnation))
      .field("status", std::string_view{to_string(m.status)})
      .field("cluster_address", m.cluster_address)
      .field("http_address", m.http_address)
      .field("protocol", m.version)
      .field("heartbeat_age_ms", m.heartbeat_age_ms)
      .field("slots_owned", static_cast<std::int64_t>(m.slots_owned))
      .field("connected", m.connected)
      .end_object();
  }
  w.end_array().end_object();
  return w.take();
}

} // namespace livemart
