#include <protocol/messages.hpp>

#include <caf/actor_system_config.hpp>
#include <caf/make_message.hpp>

namespace livemart {

caf::error make_error(errc code, std::string detail, std::vector<field_error> fields) {
  return caf::error{static_cast<std::uint8_t>(code), caf::atom("livemart"),
                    caf::make_message(std::move(detail), std::move(fields))};
}

caf::error line_error(errc code, std::size_t line, const std::string& field, std::string message) {
  auto name = "items[" + std::to_string(line) + "]." + field;
  // The detail first: the order in which arguments are evaluated is
  // unspecified, and the field error takes `message` by move.
  auto detail = name + " " + message;
  return make_error(code, std::move(detail), {field_error{name, std::move(message)}});
}

caf::error make_rate_limited(std::uint32_t retry_after_s) {
  return caf::error{static_cast<std::uint8_t>(errc::rate_limited), caf::atom("livemart"),
                    caf::make_message(std::string{"too many attempts; retry later"}, retry_after_s)};
}

problem to_problem_with_fields(const caf::error& err) {
  auto p = to_problem(err);
  if (err.category() != caf::atom("livemart"))
    return p;
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string, std::vector<field_error>>()) {
    p.detail = ctx.get_as<std::string>(0);
    p.fields = ctx.get_as<std::vector<field_error>>(1);
  } else if (ctx.match_elements<std::string, std::uint32_t>()) {
    p.detail = ctx.get_as<std::string>(0);
    p.retry_after_s = ctx.get_as<std::uint32_t>(1);
  }
  return p;
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<std::vector<std::uint64_t>>("std::vector<std::uint64_t>"); // viewers_atom's ids
  cfg.add_message_type<db_value>("db_value");
  cfg.add_message_type<password_change>("password_change");
  cfg.add_message_type<suspension>("suspension");
  cfg.add_message_type<revocation>("revocation");
  cfg.add_message_type<std::vector<revocation>>("std::vector<revocation>");
  cfg.add_message_type<db_statement>("db_statement");
  cfg.add_message_type<db_command>("db_command");
  cfg.add_message_type<db_rows>("db_rows");
  cfg.add_message_type<db_result>("db_result");
  cfg.add_message_type<field_error>("field_error");
  cfg.add_message_type<std::vector<field_error>>("std::vector<field_error>");
  cfg.add_message_type<user_profile>("user_profile");
  cfg.add_message_type<register_request>("register_request");
  cfg.add_message_type<login_request>("login_request");
  cfg.add_message_type<refresh_request>("refresh_request");
  cfg.add_message_type<token_pair>("token_pair");
  cfg.add_message_type<profile_patch>("profile_patch");
  cfg.add_message_type<address>("address");
  cfg.add_message_type<std::vector<address>>("std::vector<address>");
  cfg.add_message_type<address_patch>("address_patch");
  cfg.add_message_type<verify_result>("verify_result");
  cfg.add_message_type<seller>("seller");
  cfg.add_message_type<std::vector<seller>>("std::vector<seller>");
  cfg.add_message_type<seller_status>("seller_status");
  cfg.add_message_type<seller_application>("seller_application");
  cfg.add_message_type<category>("category");
  cfg.add_message_type<category_patch>("category_patch");
  cfg.add_message_type<product>("product");
  cfg.add_message_type<stock_update>("stock_update");
  cfg.add_message_type<product_draft>("product_draft");
  cfg.add_message_type<product_patch>("product_patch");
  cfg.add_message_type<std::vector<category>>("std::vector<category>");
  cfg.add_message_type<seller_summary>("seller_summary");
  cfg.add_message_type<product_detail>("product_detail");
  cfg.add_message_type<search_query>("search_query");
  cfg.add_message_type<category_scope>("category_scope");
  cfg.add_message_type<search_result>("search_result");
  cfg.add_message_type<checkout_request>("checkout_request");
  cfg.add_message_type<checkout>("checkout");
  cfg.add_message_type<place_request>("place_request");
  cfg.add_message_type<purchase_key>("purchase_key");
  cfg.add_message_type<purchase_outcome>("purchase_outcome");
  cfg.add_message_type<cluster_member>("cluster_member");
  cfg.add_message_type<std::vector<cluster_member>>("std::vector<cluster_member>");
  cfg.add_message_type<cluster_view>("cluster_view");
  cfg.add_message_type<order>("order");
  cfg.add_message_type<std::vector<order>>("std::vector<order>");
  cfg.add_message_type<order_command>("order_command");
  cfg.add_message_type<gateway_charge>("gateway_charge");
  cfg.add_message_type<gateway_refund>("gateway_refund");
  cfg.add_message_type<gateway_record>("gateway_record");
  cfg.add_message_type<std::vector<gateway_record>>("std::vector<gateway_record>");
  cfg.add_message_type<gateway_event>("gateway_event");
  cfg.add_message_type<reconcile_report>("reconcile_report");
  cfg.add_message_type<review>("review");
  cfg.add_message_type<sale_request>("sale_request");
  cfg.add_message_type<sale_result>("sale_result");
  cfg.add_message_type<review_draft>("review_draft");
  cfg.add_message_type<review_page>("review_page");
  cfg.add_message_type<stream_info>("stream_info");
  cfg.add_message_type<std::vector<stream_info>>("std::vector<stream_info>");
  cfg.add_message_type<stream_draft>("stream_draft");
  cfg.add_message_type<stream_patch>("stream_patch");
  cfg.add_message_type<stream_drop>("stream_drop");
  cfg.add_message_type<stream_auction>("stream_auction");
  cfg.add_message_type<drop_spec>("drop_spec");
  cfg.add_message_type<auction_spec>("auction_spec");
  cfg.add_message_type<stream_push>("stream_push");
  cfg.add_message_type<stream_snapshot>("stream_snapshot");
  cfg.add_message_type<stream_keyed>("stream_keyed");
  cfg.add_message_type<stream_stats>("stream_stats");
  cfg.add_message_type<live_page>("live_page");
  add_error_category(cfg);
}

} // namespace livemart
