#include "fake_stripe.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <protocol/json.hpp>

#include "http_client.hpp"

namespace livemart::testing {
namespace {

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string{s.substr(i + 1, 2)}, nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    auto amp = body.find('&');
    auto pair = body.substr(0, amp);
    auto eq = pair.find('=');
    out[url_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
  }
  return out;
}

std::string query_value(const std::string& target, const std::string& key) {
  auto q = target.find('?');
  if (q == std::string::npos)
    return {};
  auto form = parse_form(std::string_view{target}.substr(q + 1));
  auto it = form.find(key);
  return it == form.end() ? std::string{} : it->second;
}

std::string error_body(const std::string& type, const std::string& code, const std::string& message,
                       const std::string& extra = {}) {
  std::string out = "{\"error\":{\"type\":";
  json::append_string(out, type);
  out += ",\"code\":";
  json::append_string(out, code);
  out += ",\"message\":";
  json::append_string(out, message);
  out += extra + "}}";
  return out;
}

} // namespace

fake_stripe::fake_stripe() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listen_fd_ >= 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(listen_fd_, 64) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread{[this] { serve(); }};
}

fake_stripe::~fake_stripe() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<fake_stripe::call> fake_stripe::calls() const {
  std::lock_guard lock{mutex_};
  return calls_;
}

void fake_stripe::settle(const std::string& intent_id) {
  std::lock_guard lock{mutex_};
  for (auto& i : intents_)
    if (i.id == intent_id && i.status == "processing")
      i.status = "succeeded";
}

void fake_stripe::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0)
      continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd >= 0) {
      // This is not the test's thread: a request the fake cannot read must
      // not end the test binary without a report. It gets a 500, and the
      // test sees livemart's reaction to a gateway that failed.
      try {
        handle(fd);
      } catch (const std::exception&) {
        const char reply[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)::send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL);
      }
      ::close(fd);
    }
  }
}

void fake_stripe::handle(int fd) {
  std::string buffer;
  auto fill = [&]() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5'000) <= 0)
      return false;
    char chunk[8192];
    auto n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0)
      return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t header_end;
  while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos)
    if (!fill())
      return;
  call c;
  std::string head = buffer.substr(0, header_end);
  auto line_end = head.find("\r\n");
  auto request_line = head.substr(0, line_end);
  auto sp1 = request_line.find(' ');
  auto sp2 = request_line.find(' ', sp1 + 1);
  c.method = request_line.substr(0, sp1);
  c.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::size_t content_length = 0;
  for (auto& [name, value] : parse_header_lines(head, line_end + 2)) {
    if (name == "content-length")
      content_length = std::stoul(value);
    else if (name == "idempotency-key")
      c.idempotency_key = value;
    else if (name == "authorization")
      c.authorization = value;
  }
  buffer.erase(0, header_end + 4);
  while (buffer.size() < content_length)
    if (!fill())
      return;
  c.raw_body = buffer.substr(0, content_length);
  c.form = parse_form(c.raw_body);
  int status = 200;
  std::string body;
  {
    std::lock_guard lock{mutex_};
    calls_.push_back(c);
    body = respond(c, status);
  }
  if (lose_next_.exchange(false))
    return;
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: "
                    + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < out.size()) {
    auto n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    sent += static_cast<std::size_t>(n);
  }
}

std::string fake_stripe::last_intent_id() const {
  std::lock_guard lock{mutex_};
  return intents_.empty() ? std::string{} : intents_.back().id;
}

std::string fake_stripe::respond(const call& c, int& status) {
  if (c.authorization != std::string{"Bearer "} + secret_key) {
    status = 401;
    return error_body("invalid_request_error", "api_key_invalid", "Invalid API Key provided");
  }
  if (!c.idempotency_key.empty()) {
    if (auto it = replies_by_key_.find(c.idempotency_key); it != replies_by_key_.end()) {
      status = it->second.first;
      return it->second.second;
    }
  }
  auto render = [](const intent& i) {
    std::string out = "{\"id\":";
    json::append_string(out, i.id);
    out += ",\"object\":\"payment_intent\",\"status\":";
    json::append_string(out, i.status);
    out += ",\"amount\":" + std::to_string(i.amount) + ",\"amount_received\":"
           + std::to_string(i.status == "succeeded" ? i.amount : 0) + ",\"currency\":";
    json::append_string(out, i.currency);
    out += ",\"created\":" + std::to_string(i.created) + ",\"metadata\":{";
    bool first = true;
    for (const auto& [k, v] : i.metadata) {
      out += first ? "" : ",";
      first = false;
      json::append_string(out, k);
      out += ":";
      json::append_string(out, v);
    }
    out += "},\"latest_charge\":{\"object\":\"charge\",\"amount_refunded\":" + std::to_string(i.refunded) + "}}";
    return out;
  };
  auto find = [this](const std::string& id) -> intent* {
    for (auto& i : intents_)
      if (i.id == id)
        return &i;
    return nullptr;
  };
  auto remember = [&](std::string body) {
    if (!c.idempotency_key.empty())
      replies_by_key_[c.idempotency_key] = {status, body};
    return body;
  };
  const std::string intents_path = "/v1/payment_intents";
  if (c.method == "POST" && c.target == intents_path) {
    intent i;
    i.id = "pi_fake_" + std::to_string(++next_id_);
    i.amount = std::stoll(c.form.at("amount"));
    i.currency = c.form.at("currency");
    i.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& [k, v] : c.form)
      if (k.rfind("metadata[", 0) == 0)
        i.metadata[k.substr(9, k.size() - 10)] = v;
    auto method = c.form.count("payment_method") ? c.form.at("payment_method") : std::string{};
    auto token = c.form.count("payment_method_data[card][token]") ? c.form.at("payment_method_data[card][token]") : "";
    bool declined = method == "pm_card_chargeDeclined" || token.find("decline") != std::string::npos;
    i.status = declined ? "requires_payment_method" : method == "pm_card_processing" ? "processing" : "succeeded";
    if (i.status == "succeeded" && c.form.count("capture_method") && c.form.at("capture_method") == "manual")
      i.status = "requires_capture";
    intents_.push_back(i);
    if (declined) {
      status = 402;
      return remember(error_body("card_error", "card_declined", "Your card was declined.",
                                 ",\"decline_code\":\"generic_decline\",\"payment_intent\":" + render(i)));
    }
    return remember(render(i));
  }
  if (c.method == "GET" && c.target.rfind(intents_path + "?", 0) == 0) {
    auto gte = std::stoll(query_value(c.target, "created[gte]"));
    auto lt = std::stoll(query_value(c.target, "created[lt]"));
    std::string out = "{\"object\":\"list\",\"has_more\":false,\"data\":[";
    bool first = true;
    for (const auto& i : intents_) {
      if (i.created < gte || i.created >= lt)
        continue;
      out += first ? "" : ",";
      first = false;
      out += render(i);
    }
    return out + "]}";
  }
  if (c.target.rfind(intents_path + "/", 0) == 0) {
    auto rest = c.target.substr(intents_path.size() + 1);
    rest = rest.substr(0, rest.find('?'));
    bool cancel = rest.size() > 7 && rest.compare(rest.size() - 7, 7, "/cancel") == 0;
    bool capture = rest.size() > 8 && rest.compare(rest.size() - 8, 8, "/capture") == 0;
    auto* i = find(cancel ? rest.substr(0, rest.size() - 7) : capture ? rest.substr(0, rest.size() - 8) : rest);
    if (i == nullptr) {
      status = 404;
      return error_body("invalid_request_error", "resource_missing", "No such payment_intent");
    }
    if (cancel) {
      // As Stripe: a processing intent cannot be cancelled (with rare exceptions).
      if (i->status == "succeeded" || i->status == "canceled" || i->status == "processing") {
        status = 400;
        return error_body("invalid_request_error", "payment_intent_unexpected_state", "You cannot cancel this PaymentIntent");
      }
      i->status = "canceled";
    }
    if (capture) {
      if (i->status != "requires_capture" && i->status != "succeeded") {
        status = 400;
        return remember(error_body("invalid_request_error", "payment_intent_unexpected_state", "Nothing to capture"));
      }
      i->status = "succeeded";
      return remember(render(*i));
    }
    return render(*i);
  }
  if (c.method == "POST" && c.target == "/v1/refunds") {
    auto* i = find(c.form.count("payment_intent") ? c.form.at("payment_intent") : "");
    auto amount = std::stoll(c.form.at("amount"));
    if (i == nullptr || i->status != "succeeded" || i->refunded + amount > i->amount) {
      status = 400;
      return remember(error_body("invalid_request_error", "charge_already_refunded", "The charge cannot be refunded"));
    }
    i->refunded += amount;
    return remember("{\"id\":\"re_fake_" + std::to_string(++next_id_) + "\",\"object\":\"refund\",\"amount\":"
                    + std::to_string(amount) + ",\"status\":\"succeeded\"}");
  }
  status = 404;
  return error_body("invalid_request_error", "resource_missing", "Unrecognized request URL");
}

} // namespace livemart::testing
