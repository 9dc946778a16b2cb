#include <persistence/cluster_statements.hpp>

#include <array>

#include "columns.hpp"

namespace livemart::persistence {
namespace {

constexpr auto catalog = std::to_array<named_statement>({
  {"cluster_join", "SELECT outcome, slots FROM cluster_join($1::smallint, $2, $3, $4, $5, $6)"},
  {"cluster_heartbeat", "SELECT cluster_heartbeat($1::smallint, $2, $3) AS state"},
  {"cluster_evict", "SELECT node_id FROM cluster_evict($1::smallint, $2, $3)"},
  {"cluster_version", "SELECT version FROM cluster_config"},
  {"cluster_members",
   "SELECT m.node_id, m.incarnation, m.cluster_address, m.http_address, m.version, m.status, "
   "(extract(epoch from now() - m.heartbeat_at) * 1000)::bigint AS heartbeat_age_ms, "
   "(SELECT count(*) FROM slot_owners s WHERE s.node_id = m.node_id) AS slots_owned "
   "FROM cluster_members m ORDER BY m.node_id"},
  {"cluster_owned", "SELECT slot, epoch FROM slot_owners WHERE node_id = $1 ORDER BY slot"},
  {"cluster_claim", "SELECT slot, epoch FROM cluster_claim($1::smallint, $2::integer[]) ORDER BY slot"},
  {"cluster_release", "SELECT slot FROM cluster_release($1::smallint, $2::integer[]) ORDER BY slot"},
  {"cluster_slot_owners", "SELECT slot, node_id, epoch FROM slot_owners ORDER BY slot"},
  {"cluster_set_status", "SELECT cluster_set_status($1::smallint, $2, $3) AS changed"},
  {"cluster_fence", "SELECT cluster_fence($1, $2::smallint, $3)"},
});

std::string int_array(const std::vector<std::uint32_t>& xs) {
  std::string out = "{";
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(xs[i]);
  }
  out += '}';
  return out;
}

} // namespace

std::span<const named_statement> cluster_statement_catalog() {
  return catalog;
}

db_statement cluster_join(const cluster_member& self, std::uint32_t slots) {
  return {"cluster_join",
          {db_uint(self.node_id), db_uint(self.incarnation), db_text(self.cluster_address), db_text(self.http_address),
           db_text(self.version), db_uint(slots)}};
}

join_result decode_join(const db_rows& rows) {
  join_result out;
  if (rows.rows.empty())
    return out;
  const auto& row = rows.rows.front();
  const auto& outcome = row[column_index(rows, "outcome")].text;
  out.outcome = outcome == "joined" ? join_outcome::joined
                : outcome == "slots" ? join_outcome::slots
                                     : join_outcome::taken;
  out.slots = static_cast<std::uint32_t>(to_uint(row[column_index(rows, "slots")]));
  return out;
}

db_statement cluster_heartbeat(std::uint16_t node_id, std::uint64_t incarnation, std::uint32_t gap_ms) {
  return {"cluster_heartbeat", {db_uint(node_id), db_uint(incarnation), db_uint(gap_ms)}};
}

bool decode_alive(const db_rows& rows) {
  return !rows.rows.empty() && rows.rows.front()[column_index(rows, "state")].text == "alive";
}

db_statement cluster_evict(std::uint16_t node_id, std::uint32_t ttl_ms, std::uint32_t grace_ms) {
  return {"cluster_evict", {db_uint(node_id), db_uint(ttl_ms), db_uint(grace_ms)}};
}

std::vector<std::uint16_t> decode_node_ids(const db_rows& rows) {
  std::vector<std::uint16_t> out;
  if (rows.rows.empty())
    return out;
  auto node = column_index(rows, "node_id");
  for (const auto& row : rows.rows)
    out.push_back(static_cast<std::uint16_t>(to_uint(row[node])));
  return out;
}

db_statement cluster_version() {
  return {"cluster_version", {}};
}

std::uint64_t decode_version(const db_rows& rows) {
  return rows.rows.empty() ? 0 : to_uint(rows.rows.front()[column_index(rows, "version")]);
}

db_statement cluster_members() {
  return {"cluster_members", {}};
}

std::vector<cluster_member> decode_members(const db_rows& rows) {
  std::vector<cluster_member> out;
  if (rows.rows.empty())
    return out;
  auto node = column_index(rows, "node_id");
  auto incarnation = column_index(rows, "incarnation");
  auto cluster_address = column_index(rows, "cluster_address");
  auto http_address = column_index(rows, "http_address");
  auto version = column_index(rows, "version");
  auto status = column_index(rows, "status");
  auto age = column_index(rows, "heartbeat_age_ms");
  auto owned = column_index(rows, "slots_owned");
  for (const auto& row : rows.rows) {
    cluster_member m;
    m.node_id = static_cast<std::uint16_t>(to_uint(row[node]));
    m.incarnation = to_uint(row[incarnation]);
    m.cluster_address = row[cluster_address].text;
    m.http_address = row[http_address].text;
    m.version = row[version].text;
    m.status = member_status_of(row[status].text);
    m.heartbeat_age_ms = to_int(row[age]);
    m.slots_owned = static_cast<std::uint32_t>(to_uint(row[owned]));
    out.push_back(std::move(m));
  }
  return out;
}

db_statement cluster_owned(std::uint16_t node_id) {
  return {"cluster_owned", {db_uint(node_id)}};
}

db_statement cluster_claim(std::uint16_t node_id, const std::vector<std::uint32_t>& slots) {
  return {"cluster_claim", {db_uint(node_id), db_text(int_array(slots))}};
}

std::vector<owned_slot> decode_owned(const db_rows& rows) {
  std::vector<owned_slot> out;
  if (rows.rows.empty())
    return out;
  auto slot = column_index(rows, "slot");
  auto epoch = column_index(rows, "epoch");
  for (const auto& row : rows.rows)
    out.push_back({static_cast<std::uint32_t>(to_uint(row[slot])), to_uint(row[epoch])});
  return out;
}

db_statement cluster_release(std::uint16_t node_id, const std::vector<std::uint32_t>& slots) {
  return {"cluster_release", {db_uint(node_id), db_text(int_array(slots))}};
}

std::vector<std::uint32_t> decode_slots(const db_rows& rows) {
  std::vector<std::uint32_t> out;
  if (rows.rows.empty())
    return out;
  auto slot = column_index(rows, "slot");
  for (const auto& row : rows.rows)
    out.push_back(static_cast<std::uint32_t>(to_uint(row[slot])));
  return out;
}

db_statement cluster_slot_owners() {
  return {"cluster_slot_owners", {}};
}

std::vector<slot_owner_row> decode_slot_owners(const db_rows& rows) {
  std::vector<slot_owner_row> out;
  if (rows.rows.empty())
    return out;
  auto slot = column_index(rows, "slot");
  auto node = column_index(rows, "node_id");
  auto epoch = column_index(rows, "epoch");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows) {
    slot_owner_row r;
    r.slot = static_cast<std::uint32_t>(to_uint(row[slot]));
    r.node_id = row[node].is_null ? -1 : static_cast<int>(to_int(row[node]));
    r.epoch = to_uint(row[epoch]);
    out.push_back(r);
  }
  return out;
}

db_statement cluster_set_status(std::uint16_t node_id, std::uint64_t incarnation, member_status status) {
  return {"cluster_set_status", {db_uint(node_id), db_uint(incarnation), db_text(to_string(status))}};
}

db_statement cluster_fence(std::uint32_t slot, std::uint16_t node_id, std::uint64_t epoch) {
  return {"cluster_fence", {db_uint(slot), db_uint(node_id), db_uint(epoch)}};
}

} // namespace livemart::persistence
