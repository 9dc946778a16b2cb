#pragma once

#include <caf/fwd.hpp>

#include <actors/interfaces.hpp>
#include <conf/settings.hpp>

namespace livemart::http {

/// The Stripe gateway: PaymentIntents over Stripe's REST API at
/// payments.stripe_base_url (https; plain http only for a loopback test
/// double), form-encoded, with the secret key from payments.stripe_secret_key
/// and an Idempotency-Key per payment or refund. Its calls block, so they run
/// on payments.gateway_workers detached actors behind a queue of at most
/// payments.gateway_queue_max calls (503 above).
gateway_actor spawn_stripe_gateway(caf::actor_system& sys, const conf::settings& cfg);

} // namespace livemart::http
