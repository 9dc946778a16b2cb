#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

/// A stand-in for Stripe's REST API on a loopback port, for e2e tests of the
/// Stripe gateway: PaymentIntents (create and confirm, get, cancel, list)
/// (and capture_method=manual with capture) and refunds, with Stripe's form encoding, bearer-key check, idempotency
/// keys and error shapes. Test payment methods behave as in Stripe's test
/// mode: pm_card_visa succeeds, pm_card_chargeDeclined is declined (402),
/// pm_card_processing stays processing until settle() is called; a Google
/// Pay token (payment_method_data[card][token]) succeeds unless it
/// contains "decline".
namespace livemart::testing {

class fake_stripe {
public:
  static constexpr const char* secret_key = "sk_test_livemart_fake";

  fake_stripe();
  ~fake_stripe();
  fake_stripe(const fake_stripe&) = delete;
  fake_stripe& operator=(const fake_stripe&) = delete;

  std::uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  struct call {
    std::string method;
    std::string target;
    std::map<std::string, std::string> form; ///< decoded body
    std::string idempotency_key;
    std::string authorization;
    std::string raw_body;
  };
  std::vector<call> calls() const;

  /// Moves a processing intent to succeeded without telling anyone (a
  /// lost webhook).
  void settle(const std::string& intent_id);

  /// The next request is carried out, then its connection is closed with
  /// no reply: the caller cannot know what happened.
  void lose_next_reply() { lose_next_ = true; }

  /// The id of the PaymentIntent created last ("" before the first).
  std::string last_intent_id() const;

private:
  void serve();
  void handle(int fd);
  std::string respond(const call& c, int& status);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> lose_next_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<call> calls_;
  struct intent {
    std::string id;
    std::string status;
    std::int64_t amount = 0;
    std::int64_t refunded = 0;
    std::string currency;
    std::map<std::string, std::string> metadata;
    std::int64_t created = 0;
  };
  std::vector<intent> intents_; ///< in creation order
  std::map<std::string, std::pair<int, std::string>> replies_by_key_;
  std::uint64_t next_id_ = 0;
};

} // namespace livemart::testing
