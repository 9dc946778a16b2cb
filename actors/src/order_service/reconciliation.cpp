#include "order_service.hpp"

namespace livemart::order_desk {

/// The gateway's clock and ours differ a little: its list is asked for a
/// window this much wider on each side (records outside ours are ignored).
constexpr std::int64_t clock_margin_s = 60;

/// Compares our payments created in [from_s, to_s) with the gateway's
/// records; with `repair`, applies what the gateway knows and we missed as
/// an event (once: its id names the reference and the status).
void reconcile(order_pointer self, const context_ptr& ctx, std::int64_t from_s, std::int64_t to_s, bool repair,
               caf::typed_response_promise<reconcile_report> rp) {
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::payments_between(ctx->payments.gateway, from_s, to_s)}})
    .then(
      [self, ctx, from_s, to_s, repair, rp](const db_result& r) mutable {
        auto ours = persistence::decode_payment_checks(r.results.front());
        self->request(ctx->gateway, ctx->reconcile_timeout, list_atom::value, from_s - clock_margin_s,
                      to_s + clock_margin_s)
          .then(
            [self, ctx, from_s, to_s, repair, rp, ours](const std::vector<gateway_record>& theirs) mutable {
              reconcile_report report;
              report.from_s = from_s;
              report.to_s = to_s;
              report.payments_checked = ours.size();
              report.gateway_records = theirs.size();
              std::vector<bool> matched(theirs.size(), false);
              std::vector<gateway_event> repairs;
              for (const auto& check : ours) {
                reconcile_mismatch m;
                m.payment_id = check.id;
                m.order_id = check.order_id;
                m.gateway_ref = check.gateway_ref;
                auto status = check.status;
                auto status_text = std::string{to_string(status)};
                auto amount = check.amount_minor;
                auto refunded = check.refunded_minor;
                auto order_state = check.order_status;
                auto order_status_text = std::string{to_string(order_state)};
                const gateway_record* rec = nullptr;
                for (std::size_t i = 0; i < theirs.size() && rec == nullptr; ++i) {
                  if ((!m.gateway_ref.empty() && theirs[i].ref == m.gateway_ref) || theirs[i].payment_id == m.payment_id) {
                    rec = &theirs[i];
                    matched[i] = true;
                  }
                }
                auto add = [&](std::string kind, std::string detail, bool repairable) {
                  m.kind = std::move(kind);
                  m.detail = std::move(detail);
                  m.repaired = repair && repairable;
                  report.mismatches.push_back(m);
                };
                if (rec == nullptr) {
                  // A payment whose outcome is unknown and that the gateway
                  // never received, well after any call could still land: failed.
                  auto settled_after_s = 60 + 2 * static_cast<std::int64_t>(ctx->payments.gateway_timeout_ms) / 1000;
                  bool lost = status == payment_status::created && check.age_s > settled_after_s;
                  if (status != payment_status::failed && status != payment_status::canceled)
                    add("missing_at_gateway", "we have it as " + status_text + "; the gateway has no such payment", lost);
                  if (lost) {
                    gateway_event e;
                    e.id = "reconcile:missing:" + ids::format(m.payment_id);
                    e.type = std::string{missing_payment_event};
                    e.object.payment_id = m.payment_id;
                    e.object.order_id = m.order_id;
                    repairs.push_back(std::move(e));
                  }
                  continue;
                }
                m.gateway_ref = rec->ref;
                if (rec->amount_minor != amount)
                  add("amount_differs",
                      "ours " + std::to_string(amount) + ", the gateway's " + std::to_string(rec->amount_minor), false);
                auto event_for = [&](std::string type) {
                  gateway_event e;
                  e.id = "reconcile:" + rec->ref + ":" + std::string{to_string(rec->status)};
                  e.type = std::move(type);
                  e.object = *rec;
                  return e;
                };
                if (rec->status == payment_status::succeeded && status != payment_status::succeeded) {
                  add(order_state == order_status::pending ? "captured_order_pending" : "status_differs",
                      "captured at the gateway; ours is " + status_text + ", the order " + order_status_text, true);
                  repairs.push_back(event_for("payment_intent.succeeded"));
                } else if (status == payment_status::succeeded && rec->status != payment_status::succeeded) {
                  add("confirmed_not_captured",
                      "ours succeeded (order " + order_status_text + "); the gateway has " + std::string{to_string(rec->status)},
                      false);
                } else if ((rec->status == payment_status::failed || rec->status == payment_status::canceled)
                           && payment_may_move(status, rec->status)) {
                  add("status_differs", "the gateway has " + std::string{to_string(rec->status)} + ", ours " + status_text, true);
                  repairs.push_back(event_for(rec->status == payment_status::failed ? "payment_intent.payment_failed"
                                                                                     : "payment_intent.canceled"));
                }
                // Money kept for an order that does not need it (cancelled, or
                // paid by an earlier payment): a refund that failed or was lost.
                if (status == payment_status::succeeded && refunded < amount
                    && (order_state == order_status::cancelled || check.earlier_paid > 0)) {
                  add("refund_owed", "the order is " + order_status_text + "; " + std::to_string(amount - refunded)
                                       + " of this payment is still kept", true);
                  auto e = event_for("payment_intent.succeeded");
                  e.id = "reconcile:" + rec->ref + ":owed:" + std::to_string(to_s);
                  repairs.push_back(std::move(e));
                }
                if (rec->amount_refunded_minor != refunded)
                  add("refund_differs",
                      "refunded: ours " + std::to_string(refunded) + ", the gateway's "
                        + std::to_string(rec->amount_refunded_minor),
                      rec->amount_refunded_minor > refunded);
                if (rec->amount_refunded_minor > refunded) {
                  auto e = event_for("charge.refunded");
                  e.id = "reconcile:" + rec->ref + ":refunded:" + std::to_string(rec->amount_refunded_minor);
                  repairs.push_back(std::move(e));
                }
              }
              for (std::size_t i = 0; i < theirs.size(); ++i) {
                if (matched[i] || theirs[i].created_s < from_s || theirs[i].created_s >= to_s)
                  continue;
                reconcile_mismatch m;
                m.gateway_ref = theirs[i].ref;
                m.payment_id = theirs[i].payment_id;
                m.order_id = theirs[i].order_id;
                m.kind = "unknown_to_us";
                m.detail = "the gateway has a payment (" + std::string{to_string(theirs[i].status)} + ") we have no record of";
                report.mismatches.push_back(m);
              }
              if (!report.mismatches.empty())
                log::warn("reconciliation found mismatches",
                          "\"count\":" + std::to_string(report.mismatches.size()));
              if (!repair || repairs.empty()) {
                rp.deliver(std::move(report));
                return;
              }
              auto waiting = std::make_shared<std::size_t>(repairs.size());
              auto shared_report = std::make_shared<reconcile_report>(std::move(report));
              for (auto& e : repairs) {
                self->request(caf::actor_cast<order_service_actor>(self), ctx->change_timeout, event_atom::value, e)
                  .then([rp, waiting, shared_report](const std::string&) mutable {
                          if (--*waiting == 0)
                            rp.deliver(*shared_report);
                        },
                        [rp, waiting, shared_report](caf::error&) mutable {
                          if (--*waiting == 0)
                            rp.deliver(*shared_report);
                        });
              }
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

} // namespace livemart::order_desk
