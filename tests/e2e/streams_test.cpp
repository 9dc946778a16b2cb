#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>

#include "api.hpp"
#include "ws_client.hpp"

using namespace livemart::testing;
using livemart::json::value;

namespace {

struct live_stream {
  std::string id;
  std::string key;
};

live_stream open_stream(marketplace& m, const shop& s, const std::vector<std::string>& featured, bool start_now = true) {
  std::string list;
  for (const auto& id : featured)
    list.append(list.empty() ? "" : ",").append(quote(id));
  auto r = m.c.post("/streams",
                    "{\"title\":\"Friday camera drop\",\"featured\":[" + list + "],\"start_now\":" +
                      (start_now ? "true" : "false") + "}",
                    s.owner.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto doc = r.json();
  const auto* stream = doc.find("stream");
  REQUIRE(stream != nullptr);
  CHECK(stream->string_or("status") == (start_now ? "live" : "scheduled"));
  return {stream->string_or("id"), doc.string_or("stream_key")};
}

/// A viewer that said hello (with `token`, or anonymously) and got its snapshot.
std::unique_ptr<ws_client> watch(marketplace& m, const std::string& stream, value& snapshot, const std::string& token = {}) {
  auto ws = std::make_unique<ws_client>(m.srv.port(), "/streams/" + stream + "/ws");
  REQUIRE(ws->status() == 101);
  ws->send(token.empty() ? R"({"type":"hello"})" : "{\"type\":\"hello\",\"token\":" + quote(token) + "}");
  snapshot = ws->await(of_type("snapshot"));
  return ws;
}

const value& member(const value& doc, std::string_view key) {
  const auto* v = doc.find(key);
  REQUIRE(v != nullptr);
  return *v;
}

std::int64_t available_in(const value& product_holder) {
  return integer_field(member(product_holder, "product"), "available");
}

std::string ingest(marketplace& m, const std::string& key, const std::string& call = "publish") {
  http_client c{m.srv.port()};
  auto r = c.request("POST", "/ingest/auth", "app=live&name=" + key + "&call=" + call,
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  return std::to_string(r.status);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::string buy_now(marketplace& m, const api_user& buyer, const std::string& product, const std::string& address,
                    int quantity = 1) {
  auto r = m.c.request("POST", "/orders",
                       "{\"items\":[{\"product_id\":" + quote(product) + ",\"quantity\":" + std::to_string(quantity) +
                         "}],\"address_id\":" + quote(address) + "}",
                       {{"Content-Type", "application/json"},
                        {"Authorization", "Bearer " + buyer.token},
                        {"Idempotency-Key", "buy-" + unique_suffix()}});
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.body;
}

} // namespace

TEST_CASE("streams: scheduling, stream keys, ingest checks and the live list", "[e2e][streams]") {
  marketplace m{{"--streams.reconnect_window_s=1"}};
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto camera = listing(m, s, "Leica M6", 249900, 5);
  auto foreign = listing(m, other, "Nikon F3", 99900, 5);
  auto buyer = sign_up(m.c, "buyer");

  SECTION("only approved sellers schedule, with their own products") {
    check_problem(m.c.post("/streams", R"({"title":"Mine"})", buyer.token), 403, "forbidden");
    auto missing = m.c.post("/streams", R"({"description":"no title"})", s.owner.token);
    check_problem(missing, 422, "validation-failed");
    CHECK(contains(missing.error_fields(), "title"));
    auto theirs = m.c.post("/streams", "{\"title\":\"Borrowed\",\"featured\":[" + quote(foreign) + "]}", s.owner.token);
    check_problem(theirs, 422, "validation-failed");
    CHECK(contains(theirs.error_fields(), "featured"));
    auto unknown = m.c.post("/streams", R"({"title":"x","price_minor":1})", s.owner.token);
    check_problem(unknown, 400, "unknown-field");
  }

  SECTION("a key is shown once, checked by hash, rotated by its owner only") {
    auto live = open_stream(m, s, {camera}, false);
    CHECK(live.key.rfind("lm_" + live.id + "_", 0) == 0);
    CHECK(live.key.size() >= 3 + live.id.size() + 1 + 43); // 256 random bits in base64url
    auto pub = m.c.get("/streams/" + live.id);
    REQUIRE(pub.status == 200);
    CHECK(pub.body.find(live.key) == std::string::npos);
    CHECK(pub.json().find("key_version") == nullptr);
    CHECK(m.c.get("/streams/" + live.id, s.owner.token).json().find("key_version") != nullptr);

    CHECK(ingest(m, "lm_" + live.id + "_" + std::string(43, 'A')) == "403");
    CHECK(ingest(m, "not-a-key") == "403");
    // The encoder connects with the right key: the scheduled stream goes live.
    CHECK(ingest(m, live.key) == "204");
    auto now_live = m.c.get("/streams/" + live.id, s.owner.token).json();
    CHECK(now_live.string_or("status") == "live");
    CHECK(member(now_live, "ingest_connected").as_bool());

    check_problem(m.c.post("/streams/" + live.id + "/key", "", other.owner.token), 403, "forbidden");
    auto rotated = m.c.post("/streams/" + live.id + "/key", "", s.owner.token);
    REQUIRE(rotated.status == 200);
    auto fresh = rotated.json().string_or("stream_key");
    CHECK(fresh != live.key);
    CHECK(ingest(m, live.key) == "403");
    CHECK(ingest(m, fresh) == "204");
  }

  SECTION("the live list comes from the stream actors, most viewers first; the shop shows it is live") {
    auto first = open_stream(m, s, {camera});
    auto second = open_stream(m, other, {foreign});
    value snapshot;
    auto viewer = watch(m, second.id, snapshot);
    viewer->await([](const value& msg) { return msg.string_or("type") == "viewers" && integer_field(msg, "viewers") == 1; });
    auto page = m.c.get("/streams/live?limit=1");
    REQUIRE(page.status == 200);
    auto doc = page.json();
    REQUIRE(member(doc, "items").as_array().size() == 1);
    CHECK(member(doc, "items").as_array()[0].string_or("id") == second.id);
    auto cursor = doc.string_or("next_cursor");
    REQUIRE(!cursor.empty());
    auto rest = m.c.get("/streams/live?limit=1&cursor=" + cursor).json();
    REQUIRE(member(rest, "items").as_array().size() == 1);
    CHECK(member(rest, "items").as_array()[0].string_or("id") == first.id);
    check_problem(m.c.get("/streams/live?cursor=garbage"), 400, "bad-request");

    auto shop_page = m.c.get("/sellers/" + s.seller_id).json();
    CHECK(member(shop_page, "is_live").as_bool());
    CHECK(shop_page.string_or("live_stream_id") == first.id);
    auto upcoming = m.c.get("/sellers/" + s.seller_id + "/streams?upcoming=true").json();
    REQUIRE(member(upcoming, "items").as_array().size() == 1);

    // The owner ends it: it leaves the list and the shop is no longer live.
    check_problem(m.c.post("/streams/" + first.id + "/end", "", buyer.token), 403, "forbidden");
    auto ended = m.c.post("/streams/" + first.id + "/end", "", s.owner.token);
    REQUIRE(ended.status == 200);
    CHECK(ended.json().string_or("status") == "ended");
    check_problem(m.c.post("/streams/" + first.id + "/end", "", s.owner.token), 409, "conflict");
    CHECK(!member(m.c.get("/sellers/" + s.seller_id).json(), "is_live").as_bool());
    CHECK(member(m.c.get("/sellers/" + s.seller_id + "/streams").json(), "items").as_array().size() == 1);
  }

  SECTION("a stream whose ingest went away ends after the reconnect window; a scheduled one is cancelled") {
    auto live = open_stream(m, s, {camera}, false);
    REQUIRE(ingest(m, live.key) == "204");
    value snapshot;
    auto viewer = watch(m, live.id, snapshot);
    auto lost_ms = now_ms(); // before the server hears that the encoder left
    CHECK(ingest(m, live.key, "publish_done") == "204");
    auto ended = viewer->await(of_type("stream_ended"));
    CHECK(member(ended, "stream").string_or("end_reason") == "ingest_lost");
    // Not at once: a whole reconnect window (1 s) later, by the server's own
    // clock (the same clock as lost_ms); and so at least that long after it went live.
    auto ended_at_ms = integer_field(member(ended, "stream"), "ended_at_ms");
    CHECK(ended_at_ms >= lost_ms + 1000);
    CHECK(ended_at_ms - integer_field(member(ended, "stream"), "started_at_ms") >= 1000);
    CHECK(ingest(m, live.key) == "403"); // an ended stream takes no publisher

    auto later = open_stream(m, s, {}, false);
    auto cancelled = m.c.post("/streams/" + later.id + "/end", "", s.owner.token);
    REQUIRE(cancelled.status == 200);
    CHECK(cancelled.json().string_or("status") == "cancelled");
  }

  SECTION("the owner edits a stream; others cannot") {
    auto live = open_stream(m, s, {camera}, false);
    check_problem(m.c.patch("/streams/" + live.id, R"({"title":"Theirs"})", other.owner.token), 403, "forbidden");
    auto edited = m.c.patch("/streams/" + live.id, R"({"title":"Sunday lenses","description":"Bring questions"})",
                            s.owner.token);
    INFO(edited.body);
    REQUIRE(edited.status == 200);
    CHECK(edited.json().string_or("title") == "Sunday lenses");
    auto bad = m.c.patch("/streams/" + live.id, "{\"featured\":[" + quote(foreign) + "]}", s.owner.token);
    check_problem(bad, 422, "validation-failed");
    CHECK(contains(bad.error_fields(), "featured"));
  }
}

TEST_CASE("viewers: a snapshot, then events in sequence, purchases anywhere show at once", "[e2e][streams]") {
  marketplace m{{"--ws.hello_timeout_ms=500"}};
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto camera = listing(m, s, "Leica M6", 249900, 10);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto live = open_stream(m, s, {camera});

  value snapshot;
  auto viewer = watch(m, live.id, snapshot);
  auto seq = integer_field(snapshot, "seq");
  const auto& products = member(snapshot, "products").as_array();
  REQUIRE(products.size() == 1);
  CHECK(products[0].string_or("id") == camera);
  CHECK(integer_field(products[0], "price_minor") == 249900);
  CHECK(member(snapshot, "stream").string_or("status") == "live");

  SECTION("a buy-now over REST reaches the viewer with the new stock") {
    buy_now(m, buyer, camera, address, 2);
    auto push = viewer->await([](const value& msg) { return msg.string_or("type") == "product" && available_in(msg) == 8; });
    CHECK(integer_field(push, "seq") == seq); // state events carry the current sequence number
    CHECK(integer_field(push, "at_us") > 0);
  }

  SECTION("pins and price changes; a seller cannot pin in another seller's stream") {
    check_problem(m.c.post("/streams/" + live.id + "/pin", "{\"product_id\":" + quote(camera) + "}", other.owner.token),
                  403, "forbidden");
    REQUIRE(m.c.post("/streams/" + live.id + "/pin", "{\"product_id\":" + quote(camera) + "}", s.owner.token).status == 200);
    auto pinned = viewer->await(of_type("pinned"));
    CHECK(integer_field(pinned, "seq") == seq + 1);
    CHECK(member(pinned, "pin").string_or("product_id") == camera);
    REQUIRE(m.c.request("PUT", "/products/" + camera + "/price", R"({"price_minor":199900})",
                        {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + s.owner.token}})
              .status == 200);
    auto priced = viewer->await([](const value& msg) {
      return msg.string_or("type") == "product" && integer_field(member(msg, "product"), "price_minor") == 199900;
    });
    CHECK(integer_field(priced, "seq") == seq + 1);
    REQUIRE(m.c.del("/streams/" + live.id + "/pin", s.owner.token).status == 200);
    auto unpinned = viewer->await(of_type("unpinned"));
    CHECK(integer_field(unpinned, "seq") == seq + 2);
    // A resync gives a fresh snapshot at the current sequence number.
    viewer->send(R"({"type":"resync"})");
    auto again = viewer->await(of_type("snapshot"));
    CHECK(integer_field(again, "seq") == seq + 2);
  }

  SECTION("Origin is checked; bad messages are answered naming the field; silence before hello closes") {
    ws_client evil{m.srv.port(), "/streams/" + live.id + "/ws", {{"Origin", "https://evil.example"}}};
    CHECK(evil.status() == 403);
    ws_client same{m.srv.port(), "/streams/" + live.id + "/ws",
                   {{"Origin", "http://127.0.0.1:" + std::to_string(m.srv.port())}}};
    CHECK(same.status() == 101);
    ws_client nowhere{m.srv.port(), "/streams/999999/ws"};
    REQUIRE(nowhere.status() == 101);
    nowhere.send(R"({"type":"hello"})");
    CHECK(!nowhere.read().has_value());
    CHECK(nowhere.close_code() == 4404);

    viewer->send(R"({"type":"bid","amount_minor":"ten"})");
    auto reply = viewer->await(of_type("reply"));
    CHECK(integer_field(reply, "status") == 400);
    CHECK(member(reply, "body").string_or("code") == "invalid-field-type");
    viewer->send(R"({"type":"bid","amount_minor":1000})");
    auto anonymous_bid = viewer->await(of_type("reply"));
    CHECK(integer_field(anonymous_bid, "status") == 401);
    viewer->send(std::string(5000, ' '));
    CHECK(!viewer->read().has_value());
    CHECK(viewer->close_code() == 1009); // larger than ws.message_bytes_max

    ws_client silent{m.srv.port(), "/streams/" + live.id + "/ws"};
    REQUIRE(silent.status() == 101);
    CHECK(!silent.read(std::chrono::seconds{5}).has_value());
    CHECK(silent.close_code() == 4401);

    ws_client forged{m.srv.port(), "/streams/" + live.id + "/ws"};
    forged.send(R"({"type":"hello","token":"eyJhbGciOiJIUzI1NiJ9.e30.x"})");
    CHECK(!forged.read().has_value());
    CHECK(forged.close_code() == 4401);
  }
}

TEST_CASE("viewers: one client's connections are limited", "[e2e][streams]") {
  marketplace m{{"--ws.connections_per_client_max=2"}};
  auto s = open_shop(m);
  auto live = open_stream(m, s, {});
  ws_client one{m.srv.port(), "/streams/" + live.id + "/ws"};
  ws_client two{m.srv.port(), "/streams/" + live.id + "/ws"};
  CHECK(one.status() == 101);
  CHECK(two.status() == 101);
  ws_client three{m.srv.port(), "/streams/" + live.id + "/ws"};
  CHECK(three.status() == 429);
  CHECK(three.refusal().find("ws.connections_per_client_max") != std::string::npos);
  CHECK_FALSE(three.refusal_header("retry-after").empty());
}

TEST_CASE("viewers: a client that keeps flooding is closed with 4429, whatever its rate", "[e2e][streams]") {
  // One message a millisecond and no burst: a client that sends three at
  // once has at least two refused each time, and some accepted between.
  marketplace m{{"--ws.messages_per_s=1000", "--ws.messages_burst=1", "--ws.refusals_max=20",
                 "--ws.refusal_window_ms=60000"}};
  auto s = open_shop(m);
  auto live = open_stream(m, s, {});
  value snapshot;
  auto viewer = watch(m, live.id, snapshot);
  int refused = 0;
  int answered = 0;
  bool closed = false;
  for (int round = 0; round < 200 && !closed; ++round) {
    for (int i = 0; i < 3; ++i)
      viewer->send(R"({"type":"ping","ref":"p"})");
    for (int i = 0; i < 3 && !closed; ++i) {
      auto text = viewer->read();
      if (!text) {
        closed = true;
        break;
      }
      auto parsed = livemart::json::parse(*text);
      REQUIRE(std::holds_alternative<value>(parsed));
      auto status = std::get<value>(parsed).find("status");
      if (status == nullptr)
        continue; // a viewer count or other push
      if (status->as_integer() == 429)
        ++refused;
      else
        ++answered;
    }
  }
  INFO("refused " << refused << ", answered " << answered);
  CHECK(closed);
  CHECK(viewer->close_code() == 4429);
  CHECK(refused == 20); // ws.refusals_max, then the close
}

TEST_CASE("upgrades: a bad Sec-WebSocket-Key is refused, upgrades, refusals and closes are logged",
          "[e2e][streams]") {
  marketplace m{{"--http.access_log=true"}};
  auto s = open_shop(m);
  auto live = open_stream(m, s, {});
  const std::string head = "GET /streams/" + live.id + "/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                           "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  for (std::string key : {"c2hvcnQ=", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZSBsb25nZXI=", "!!!!!!!!!!!!!!!!!!!!!!=="}) {
    INFO(key);
    http_client c{m.srv.port()};
    auto r = c.raw(head + "Sec-WebSocket-Key: " + key + "\r\n\r\n");
    check_problem(r, 400, "bad-request");
    CHECK(r.body.find("Sec-WebSocket-Key") != std::string::npos);
  }
  {
    http_client c{m.srv.port()};
    check_problem(c.raw(head + "\r\n"), 400, "bad-request"); // no key at all
  }
  {
    value snapshot;
    auto viewer = watch(m, live.id, snapshot);
    viewer->send(std::string(5000, ' '));
    CHECK(!viewer->read().has_value());
    CHECK(viewer->close_code() == 1009);
  }
  // The refusals, the accepted upgrade and its close, each one JSON line.
  auto has = [&](std::string_view a, std::string_view b) {
    return m.srv.await_line([&](const std::string& line) {
      return line.find(a) != std::string::npos && line.find(b) != std::string::npos;
    });
  };
  CHECK(has("\"msg\":\"websocket upgrade\"", "\"status\":400"));
  CHECK(has("\"msg\":\"websocket upgrade\"", "\"status\":101"));
  CHECK(has("\"msg\":\"websocket closed\"", "\"code\":1009"));
}

TEST_CASE("viewers: stock changes are coalesced to the latest value", "[e2e][streams]") {
  marketplace m{{"--streams.push_interval_ms=400"}};
  auto s = open_shop(m);
  auto camera = listing(m, s, "Leica M6", 249900, 40);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto live = open_stream(m, s, {camera});
  value snapshot;
  auto viewer = watch(m, live.id, snapshot);
  auto began_ms = now_ms();
  for (int i = 0; i < 20; ++i)
    buy_now(m, buyer, camera, address);
  auto last = viewer->await([](const value& msg) { return msg.string_or("type") == "product" && available_in(msg) == 20; });
  auto elapsed_ms = now_ms() - began_ms;
  std::vector<value> pushes;
  for (const auto& msg : viewer->skipped())
    if (msg.string_or("type") == "product")
      pushes.push_back(msg);
  pushes.push_back(last);
  INFO("product pushes: " << pushes.size() << " in " << elapsed_ms << " ms");
  // One product's pushes leave at least streams.push_interval_ms apart (by
  // the server's sent_us; 5 ms for clock slewing), each with the newest
  // value: however long the purchases took, no more than one push per interval.
  bool replaced = false;
  for (std::size_t k = 0; k < pushes.size(); ++k) {
    CAPTURE(k);
    if (k > 0) {
      CHECK(integer_field(pushes[k], "sent_us") - integer_field(pushes[k - 1], "sent_us") >= 400'000 - 5'000);
      CHECK(available_in(pushes[k]) < available_in(pushes[k - 1]));
    }
    replaced = replaced || pushes[k].find("first_at_us") != nullptr;
  }
  CHECK(static_cast<std::int64_t>(pushes.size()) <= 1 + elapsed_ms / (400 - 5));
  // Fewer pushes than changes: some push stood for several, and says so.
  if (pushes.size() < 20)
    CHECK(replaced);
  CHECK(integer_field(member(last, "product"), "available") == 20);
}

namespace {

/// A live stream featuring one camera, watched by a viewer that keeps up
/// and by one whose socket takes little (SO_RCVBUF) and who reads nothing
/// until the test says so: with ws.send_buffer_bytes small on the server,
/// its messages pile up in the server's outbox.
///
/// The camera's title and image URL are as long as allowed, so a push about
/// it takes over 2 KB: the few kilobytes the kernel's buffers hold between
/// the two are a handful of pushes.
struct fast_and_slow {
  explicit fast_and_slow(std::vector<std::string> flags) : m{std::move(flags)} {
    s = open_shop(m);
    auto created = m.c.post("/products",
                            "{\"category_id\":" + quote(s.category) + ",\"title\":" + quote(std::string(200, 'L'))
                              + ",\"description\":\"Film camera\",\"price_minor\":100000,\"currency\":\"EUR\","
                                "\"stock\":10,\"status\":\"active\",\"image_urls\":["
                              + quote("https://img.example/" + std::string(2000, 'm') + ".jpg") + "]}",
                            s.owner.token);
    INFO(created.body);
    REQUIRE(created.status == 201);
    camera = created.json().string_or("id");
    live = open_stream(m, s, {camera});
    value snapshot;
    fast = watch(m, live.id, snapshot);
    slow = std::make_unique<ws_client>(m.srv.port(), "/streams/" + live.id + "/ws", ws_client::header_list{}, 4'096);
    REQUIRE(slow->status() == 101);
    slow->send(R"({"type":"hello"})");
    seq = integer_field(slow->await(of_type("snapshot")), "seq");
  }

  /// The seller pins the camera (or unpins it).
  void pin(bool on) {
    auto r = on ? m.c.post("/streams/" + live.id + "/pin", "{\"product_id\":" + quote(camera) + "}", s.owner.token)
                : m.c.del("/streams/" + live.id + "/pin", s.owner.token);
    REQUIRE(r.status == 200);
  }

  marketplace m;
  shop s;
  std::string camera;
  live_stream live;
  std::unique_ptr<ws_client> fast;
  std::unique_ptr<ws_client> slow;
  std::int64_t seq = 0; ///< at the viewers' snapshots
};

std::int64_t price_in(const value& msg) {
  return integer_field(member(msg, "product"), "price_minor");
}

} // namespace

TEST_CASE("viewers: a slow reader gets the latest values, in order, and slows nobody", "[e2e][streams]") {
  // behind_max_ms: the slow reader reads only after all the changes.
  fast_and_slow t{{"--streams.push_interval_ms=0", "--ws.send_buffer_bytes=4096", "--ws.behind_max_ms=600000"}};
  constexpr int changes = 300;
  for (int i = 1; i <= changes; ++i) {
    REQUIRE(t.m.c.request("PUT", "/products/" + t.camera + "/price", "{\"price_minor\":" + std::to_string(100000 + i) + "}",
                          {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + t.s.owner.token}})
              .status == 200);
    // The viewer that keeps up sees every change, at once.
    t.fast->await([i](const value& msg) { return msg.string_or("type") == "product" && price_in(msg) == 100000 + i; });
    if (i == changes / 2) {
      t.pin(true);
      CHECK(integer_field(t.fast->await(of_type("pinned")), "seq") == t.seq + 1);
    }
  }

  // The slow one was never waited for: now it reads. Its stock and price
  // messages were replaced by newer ones while it did not read, never
  // reordered, and the event in between is there, in its place.
  //
  // How many it gets depends on the kernel's socket buffers (SO_RCVBUF 4 KB
  // here, ws.send_buffer_bytes 4 KB there: Linux doubles each, so 16 KB in
  // all), not on the machine's speed. Even buffers four times as large
  // (64 KB) hold under 32 pushes of over 2 KB, and the server's outbox one
  // more: far fewer than the half of the changes allowed below.
  std::int64_t last_price = 100000;
  int pushes = 0;
  std::size_t smallest_push = std::string::npos;
  bool pinned = false;
  while (last_price != 100000 + changes) {
    auto text = t.slow->read();
    REQUIRE(text.has_value());
    auto parsed = livemart::json::parse(*text);
    REQUIRE(std::holds_alternative<value>(parsed));
    const auto& msg = std::get<value>(parsed);
    if (msg.string_or("type") == "pinned") {
      CHECK_FALSE(pinned);
      pinned = true;
      CHECK(integer_field(msg, "seq") == t.seq + 1);
      CHECK(last_price < 100000 + changes / 2 + 1);
      continue;
    }
    if (msg.string_or("type") == "viewers")
      continue;
    REQUIRE(msg.string_or("type") == "product");
    smallest_push = std::min(smallest_push, text->size());
    CHECK(price_in(msg) > last_price);
    CHECK(integer_field(msg, "seq") == (price_in(msg) <= 100000 + changes / 2 ? t.seq : t.seq + 1));
    last_price = price_in(msg);
    ++pushes;
  }
  INFO("the slow reader got " << pushes << " of " << changes << " price changes");
  CHECK(pinned);
  CHECK(smallest_push > 2000); // what the margin above counts on
  CHECK(pushes < changes / 2);
}

TEST_CASE("viewers: a reader that falls behind on events is closed with 4408", "[e2e][streams][one_node]") {
  fast_and_slow t{{"--ws.send_buffer_bytes=4096", "--ws.outbox_max=8", "--ws.close_timeout_ms=60000"}};
  // Events are never replaced: a reader that does not take them fills its
  // outbox and is closed, while the others get each one at once. They go
  // out until the server counts the slow reader's close, however many the
  // kernel's buffers took first (5,000 at most).
  const auto slow_closes = "livemart_ws_slow_closes_total";
  const auto closes_before = metric_value(t.m, slow_closes);
  int events = 0;
  while (events < 5000 && metric_value(t.m, slow_closes) == closes_before) {
    ++events;
    t.pin(events % 2 == 1);
    auto event = t.fast->await(of_type(events % 2 == 1 ? "pinned" : "unpinned"));
    CHECK(integer_field(event, "seq") == t.seq + events);
  }
  REQUIRE(metric_value(t.m, slow_closes) == closes_before + 1);
  // It gets what the buffers held, then the close frame; the outbox's
  // ws.outbox_max (8) events never went.
  int received = 0;
  while (auto text = t.slow->read(std::chrono::seconds{10})) {
    auto parsed = livemart::json::parse(*text);
    REQUIRE(std::holds_alternative<value>(parsed));
    auto type = std::get<value>(parsed).string_or("type");
    received += type == "pinned" || type == "unpinned" ? 1 : 0;
  }
  INFO("the slow reader got " << received << " of " << events << " events before the close");
  CHECK(t.slow->close_code() == 4408);
  CHECK(received + 8 <= events);
  // The stream goes on for the others.
  t.pin(true);
  CHECK(integer_field(t.fast->await(of_type("pinned")), "seq") == t.seq + events + 1);
}

TEST_CASE("drops: no oversell, no buyer beyond the limit, every viewer sees the count fall", "[e2e][streams]") {
  marketplace m;
  auto s = open_shop(m);
  auto camera = listing(m, s, "Leica M6", 249900, 10);
  auto a = sign_up(m.c, "buyer");
  auto b = sign_up(m.c, "buyer");
  auto c = sign_up(m.c, "buyer");
  auto a_address = add_address(m.c, a);
  auto b_address = add_address(m.c, b);
  auto c_address = add_address(m.c, c);
  auto live = open_stream(m, s, {camera});
  value snapshot;
  auto viewer = watch(m, live.id, snapshot);

  auto bad = m.c.post("/streams/" + live.id + "/drops", "{\"product_id\":" + quote(camera) + ",\"quantity\":11,\"duration_s\":60}",
                      s.owner.token);
  check_problem(bad, 409, "conflict");
  CHECK(contains(bad.error_fields(), "quantity"));
  check_problem(m.c.post("/streams/" + live.id + "/drops",
                         "{\"product_id\":" + quote(camera) + ",\"quantity\":3,\"duration_s\":60}", a.token),
                403, "forbidden");
  auto started = m.c.post("/streams/" + live.id + "/drops",
                          "{\"product_id\":" + quote(camera) +
                            ",\"quantity\":3,\"price_minor\":9900,\"duration_s\":60,\"per_buyer_limit\":2}",
                          s.owner.token);
  INFO(started.body);
  REQUIRE(started.status == 201);
  auto drop = started.json().string_or("id");
  auto event = viewer->await(of_type("drop_started"));
  CHECK(integer_field(member(event, "drop"), "remaining") == 3);

  auto buy = [&](const api_user& u, const std::string& address, int quantity, std::string key = {}) {
    return m.c.request("POST", "/streams/" + live.id + "/drops/" + drop + "/buy",
                       "{\"address_id\":" + quote(address) + ",\"quantity\":" + std::to_string(quantity) + "}",
                       {{"Content-Type", "application/json"},
                        {"Authorization", "Bearer " + u.token},
                        {"Idempotency-Key", key.empty() ? "drop-" + unique_suffix() : key}});
  };
  auto first_key = "drop-" + unique_suffix();
  auto first = buy(a, a_address, 2, first_key);
  INFO(first.body);
  REQUIRE(first.status == 201);
  // A retry of that purchase (its reply lost) gets the same reply, though
  // the buyer is now at the limit.
  auto retried = buy(a, a_address, 2, first_key);
  CHECK(retried.status == 201);
  CHECK(retried.body == first.body);
  auto placed = first.json();
  const auto& order = member(placed, "orders").as_array().at(0);
  CHECK(integer_field(order, "subtotal_minor") == 2 * 9900); // the drop's price, not the product's
  auto over_limit = buy(a, a_address, 1);
  check_problem(over_limit, 409, "conflict");
  CHECK(contains(over_limit.error_fields(), "quantity"));
  auto too_many = buy(b, b_address, 2);
  check_problem(too_many, 409, "conflict");
  CHECK(contains(too_many.error_fields(), "quantity"));

  // The last unit over the WebSocket.
  value b_snapshot;
  auto b_viewer = watch(m, live.id, b_snapshot, b.token);
  b_viewer->send("{\"type\":\"buy\",\"ref\":\"r1\",\"address_id\":" + quote(b_address) + ",\"key\":\"ws-" + unique_suffix() + "\"}");
  auto bought = b_viewer->await(of_type("reply"));
  CHECK(bought.string_or("ref") == "r1");
  CHECK(integer_field(bought, "status") == 201);

  auto ended = viewer->await(of_type("drop_ended"));
  CHECK(member(ended, "drop").string_or("end_reason") == "sold_out");
  check_problem(buy(c, c_address, 1), 409, "conflict");
  CHECK(stock_of(m, camera) == 7);

  // The seller's statistics: orders and revenue while live, viewers (once
  // the hub has told the stream about both viewers).
  auto two_viewers = [](const value& msg) { return msg.string_or("type") == "viewers" && integer_field(msg, "viewers") == 2; };
  // The count may have come while the awaits above skipped it.
  if (std::none_of(viewer->skipped().begin(), viewer->skipped().end(), two_viewers))
    viewer->await(two_viewers);
  check_problem(m.c.get("/streams/" + live.id + "/stats", a.token), 403, "forbidden");
  auto stats = m.c.get("/streams/" + live.id + "/stats", s.owner.token);
  REQUIRE(stats.status == 200);
  INFO(stats.body);
  auto figures = stats.json();
  CHECK(integer_field(figures, "orders") == 2);
  CHECK(integer_field(figures, "revenue_minor") == 3 * 9900);
  CHECK(integer_field(figures, "peak_viewers") == 2);
  CHECK(integer_field(figures, "unique_viewers") >= 2);
}

TEST_CASE("drops: a drop ends at its deadline, the seller can end one early", "[e2e][streams]") {
  marketplace m;
  auto s = open_shop(m);
  auto camera = listing(m, s, "Leica M6", 249900, 10);
  auto live = open_stream(m, s, {camera});
  value snapshot;
  auto viewer = watch(m, live.id, snapshot);
  auto quick = m.c.post("/streams/" + live.id + "/drops",
                        "{\"product_id\":" + quote(camera) + ",\"quantity\":2,\"duration_s\":1}", s.owner.token);
  REQUIRE(quick.status == 201);
  auto ends_at_ms = integer_field(quick.json(), "ends_at_ms");
  CHECK(ends_at_ms - integer_field(quick.json(), "started_at_ms") == 1000);
  auto ended = viewer->await(of_type("drop_ended"));
  CHECK(member(ended, "drop").string_or("end_reason") == "deadline");
  CHECK(integer_field(member(ended, "drop"), "remaining") == 2);
  // At its deadline, not at once: the server's event is stamped at or after it.
  CHECK(integer_field(member(ended, "drop"), "ends_at_ms") == ends_at_ms);
  CHECK(integer_field(ended, "at_us") >= ends_at_ms * 1000);

  auto second = m.c.post("/streams/" + live.id + "/drops",
                         "{\"product_id\":" + quote(camera) + ",\"quantity\":2,\"duration_s\":600}", s.owner.token);
  REQUIRE(second.status == 201);
  auto id = second.json().string_or("id");
  check_problem(m.c.post("/streams/" + live.id + "/drops/" + id + "/end", "", m.admin.token), 403, "forbidden");
  auto stopped = m.c.post("/streams/" + live.id + "/drops/" + id + "/end", "", s.owner.token);
  REQUIRE(stopped.status == 200);
  CHECK(stopped.json().string_or("end_reason") == "ended_by_seller");
  CHECK(stock_of(m, camera) == 10);
}

TEST_CASE("auctions: increments, durable bids, anti-sniping, the winner's order and the runner-up", "[e2e][streams]") {
  // Auctions of ten minutes, so that no request below races a deadline, and
  // an extension window wider than that, so that every bid is in it: a bid
  // leaves 20 minutes on the clock, unless sudden death.
  marketplace m{{"--streams.auction_extend_window_s=3600", "--streams.auction_extend_to_s=1200"}};
  auto s = open_shop(m);
  auto camera = listing(m, s, "Leica M6", 249900, 3);
  auto a = sign_up(m.c, "bidder");
  auto b = sign_up(m.c, "bidder");
  auto homeless = sign_up(m.c, "bidder");
  auto a_address = add_address(m.c, a);
  add_address(m.c, b);
  auto live = open_stream(m, s, {camera});
  value snapshot;
  auto viewer = watch(m, live.id, snapshot);
  ws_client a_channel{m.srv.port(), "/users/me/ws", {{"Authorization", "Bearer " + a.token}}};
  REQUIRE(a_channel.status() == 101);
  a_channel.await(of_type("ready"));

  SECTION("sudden death: the winner gets a pending order; the runner-up is offered the item after a failed payment") {
    // An auction nobody bids in closes at its deadline, not before (by the
    // server's own stamps).
    auto unsold = m.c.post("/streams/" + live.id + "/auctions",
                           "{\"product_id\":" + quote(camera) + ",\"starting_price_minor\":1000,\"duration_s\":1}",
                           s.owner.token);
    INFO(unsold.body);
    REQUIRE(unsold.status == 201);
    auto unsold_ends_at_ms = integer_field(unsold.json(), "ends_at_ms");
    auto no_bids = viewer->await(of_type("auction_closed"));
    CHECK(member(no_bids, "auction").string_or("result") == "no_bids");
    CHECK(integer_field(no_bids, "at_us") >= unsold_ends_at_ms * 1000);

    auto started = m.c.post("/streams/" + live.id + "/auctions",
                            "{\"product_id\":" + quote(camera) + ",\"starting_price_minor\":1000,\"duration_s\":600,"
                            "\"sudden_death\":true}",
                            s.owner.token);
    INFO(started.body);
    REQUIRE(started.status == 201);
    auto auction = started.json().string_or("id");
    auto bids = "/streams/" + live.id + "/auctions/" + auction + "/bids";
    auto low = m.c.post(bids, R"({"amount_minor":999})", a.token);
    check_problem(low, 409, "conflict");
    CHECK(contains(low.error_fields(), "amount_minor"));
    check_problem(m.c.post(bids, R"({"amount_minor":1000})", homeless.token), 422, "validation-failed");
    check_problem(m.c.post(bids, R"({"amount_minor":5000})", s.owner.token), 403, "forbidden");
    auto first = m.c.post(bids, R"({"amount_minor":1000})", a.token);
    REQUIRE(first.status == 201);
    CHECK(integer_field(first.json(), "next_minimum_minor") == 1100); // 100 in the first tier
    auto short_raise = m.c.post(bids, R"({"amount_minor":1050})", b.token);
    check_problem(short_raise, 409, "conflict");
    auto second = m.c.post(bids, R"({"amount_minor":1100})", b.token);
    REQUIRE(second.status == 201);
    CHECK(second.json().string_or("leader_id") == b.id);
    // Sudden death never extends (any other auction would have: see the flags).
    CHECK(integer_field(second.json(), "ends_at_ms") == integer_field(started.json(), "ends_at_ms"));
    auto outbid = a_channel.await(of_type("outbid"));
    CHECK(member(outbid, "auction").string_or("id") == auction);

    // Ending the stream closes the auction at once; its winner still gets the item.
    REQUIRE(m.c.post("/streams/" + live.id + "/end", "", s.owner.token).status == 200);
    auto closed = viewer->await(of_type("auction_closed"));
    const auto& result = member(closed, "auction");
    CHECK(integer_field(result, "ends_at_ms") < integer_field(started.json(), "ends_at_ms"));
    CHECK(result.string_or("result") == "sold");
    CHECK(result.string_or("winner_id") == b.id);
    auto order_id = result.string_or("order_id");
    auto order = m.c.get("/orders/" + order_id, b.token);
    REQUIRE(order.status == 200);
    CHECK(order.json().string_or("status") == "pending");
    CHECK(integer_field(member(order.json(), "items").as_array().at(0), "unit_price_minor") == 1100);
    CHECK(stock_of(m, camera) == 2);

    check_problem(m.c.post("/streams/" + live.id + "/auctions/" + auction + "/offer", "", s.owner.token), 409, "conflict");
    REQUIRE(m.c.post("/orders/" + order_id + "/cancel", R"({"reason":"changed my mind"})", b.token).status == 200);
    check_problem(m.c.post("/streams/" + live.id + "/auctions/" + auction + "/offer", "", a.token), 403, "forbidden");
    auto offered = m.c.post("/streams/" + live.id + "/auctions/" + auction + "/offer", "", s.owner.token);
    INFO(offered.body);
    REQUIRE(offered.status == 200);
    CHECK(offered.json().string_or("result") == "offered");
    CHECK(offered.json().string_or("offered_to") == a.id);
    auto a_order = m.c.get("/orders/" + offered.json().string_or("order_id"), a.token);
    REQUIRE(a_order.status == 200);
    CHECK(integer_field(member(a_order.json(), "items").as_array().at(0), "unit_price_minor") == 1000);
  }

  SECTION("results: the winner hears auction_won; no order without an address or without stock") {
    // One show per auction: ending a show closes its auction at once.
    auto auction_in = [&](const std::string& product, const api_user& bidder) {
      auto show = open_stream(m, s, {product});
      auto started = m.c.post("/streams/" + show.id + "/auctions",
                              "{\"product_id\":" + quote(product) + ",\"starting_price_minor\":1000,\"duration_s\":600}",
                              s.owner.token);
      INFO(started.body);
      REQUIRE(started.status == 201);
      auto bid = m.c.post("/streams/" + show.id + "/auctions/" + started.json().string_or("id") + "/bids",
                          R"({"amount_minor":1000})", bidder.token);
      INFO(bid.body);
      REQUIRE(bid.status == 201);
      return show.id;
    };
    auto close = [&](const std::string& show) {
      value ignored;
      auto watcher = watch(m, show, ignored);
      REQUIRE(m.c.post("/streams/" + show + "/end", "", s.owner.token).status == 200);
      return member(watcher->await(of_type("auction_closed")), "auction");
    };
    auto orders_of = [&](const api_user& u) {
      auto r = m.c.get("/orders", u.token);
      REQUIRE(r.status == 200);
      return member(r.json(), "items").as_array().size();
    };

    auto sold = close(auction_in(camera, a));
    CHECK(sold.string_or("result") == "sold");
    CHECK(sold.string_or("winner_id") == a.id);
    auto won = a_channel.await(of_type("auction_won"));
    CHECK(member(won, "auction").string_or("order_id") == sold.string_or("order_id"));
    CHECK(stock_of(m, camera) == 2);
    CHECK(orders_of(a) == 1);

    // The winner's only address went after the bid: nothing is sold, the
    // item stays in stock and the winner hears nothing.
    auto moving = auction_in(camera, a);
    REQUIRE(m.c.request("DELETE", "/users/addresses/" + a_address, "", {{"Authorization", "Bearer " + a.token}})
              .status == 204);
    auto homeless_winner = close(moving);
    CHECK(homeless_winner.string_or("result") == "no_address");
    CHECK(homeless_winner.string_or("order_id").empty());
    CHECK(stock_of(m, camera) == 2);
    CHECK(orders_of(a) == 1);

    // The last unit sold over REST while the auction ran.
    auto last = listing(m, s, "Rolleiflex", 99900, 1);
    auto contested = auction_in(last, b);
    auto buyer = sign_up(m.c, "buyer");
    buy_now(m, buyer, last, add_address(m.c, buyer));
    auto gone = close(contested);
    CHECK(gone.string_or("result") == "out_of_stock");
    CHECK(gone.string_or("order_id").empty());
    CHECK(stock_of(m, last) == 0);
    CHECK(orders_of(b) == 0);
    // Nothing won, nothing announced: up to the status of a's cancelled
    // order (sent after both closes), a's channel heard no second win.
    auto a_order = sold.string_or("order_id");
    REQUIRE(m.c.post("/orders/" + a_order + "/cancel", R"({"reason":"moving"})", a.token).status == 200);
    auto skipped_before = a_channel.skipped().size();
    a_channel.await([&](const value& msg) {
      return msg.string_or("type") == "order" && msg.string_or("order_id") == a_order;
    });
    const auto& heard = a_channel.skipped();
    CHECK(std::none_of(heard.begin() + static_cast<std::ptrdiff_t>(skipped_before), heard.end(),
                       [](const value& msg) { return msg.string_or("type") == "auction_won"; }));
  }

  SECTION("a bid in the last seconds extends the clock; bids survive a restart") {
    auto started = m.c.post("/streams/" + live.id + "/auctions",
                            "{\"product_id\":" + quote(camera) + ",\"starting_price_minor\":20000,\"duration_s\":600}",
                            s.owner.token);
    REQUIRE(started.status == 201);
    auto auction = started.json().string_or("id");
    auto before = integer_field(started.json(), "ends_at_ms");
    auto bid = m.c.post("/streams/" + live.id + "/auctions/" + auction + "/bids", R"({"amount_minor":20000})", a.token);
    REQUIRE(bid.status == 201);
    CHECK(integer_field(bid.json(), "ends_at_ms") > before);
    viewer->await(of_type("auction_extended"));
    // Over the WebSocket too; from 10000 the increment is 500.
    value b_snapshot;
    auto b_viewer = watch(m, live.id, b_snapshot, b.token);
    b_viewer->send(R"({"type":"bid","ref":"x","amount_minor":20499})");
    auto refused = b_viewer->await(of_type("reply"));
    CHECK(integer_field(refused, "status") == 409);
    b_viewer->send(R"({"type":"bid","ref":"y","amount_minor":20500})");
    auto accepted = b_viewer->await(of_type("reply"));
    CHECK(integer_field(accepted, "status") == 201);

    // Acknowledged bids are committed: a restarted server shows them.
    m.srv.stop();
    server_process again{m.db.url()};
    ws_client fresh{again.port(), "/streams/" + live.id + "/ws"};
    REQUIRE(fresh.status() == 101);
    fresh.send(R"({"type":"hello"})");
    auto after = fresh.await(of_type("snapshot"));
    const auto& state = member(after, "auction");
    CHECK(integer_field(state, "price_minor") == 20500);
    CHECK(state.string_or("leader_id") == b.id);
    CHECK(integer_field(state, "bid_count") == 2);
  }
}

TEST_CASE("user channels: a followed seller going live, an order's status", "[e2e][streams]") {
  marketplace m;
  auto s = open_shop(m);
  auto camera = listing(m, s, "Leica M6", 249900, 5);
  auto fan = sign_up(m.c, "fan");
  auto address = add_address(m.c, fan);
  ws_client anonymous{m.srv.port(), "/users/me/ws"};
  REQUIRE(anonymous.status() == 101);
  anonymous.send(R"({"type":"hello"})");
  CHECK(!anonymous.read().has_value());
  CHECK(anonymous.close_code() == 4401);

  ws_client channel{m.srv.port(), "/users/me/ws"};
  channel.send("{\"type\":\"hello\",\"token\":" + quote(fan.token) + "}");
  channel.await(of_type("ready"));
  // Followed while connected: the open channel hears of it too.
  REQUIRE(m.c.post("/sellers/" + s.seller_id + "/follow", "", fan.token).status == 200);
  auto live = open_stream(m, s, {camera});
  auto pushed = channel.await(of_type("seller_live"));
  CHECK(member(pushed, "stream").string_or("id") == live.id);

  auto placed = value{};
  {
    auto body = buy_now(m, fan, camera, address);
    auto parsed = livemart::json::parse(body);
    REQUIRE(std::holds_alternative<value>(parsed));
    placed = std::get<value>(std::move(parsed));
  }
  auto order_id = member(placed, "orders").as_array().at(0).string_or("id");
  REQUIRE(m.c.post("/orders/" + order_id + "/cancel", R"({"reason":"wrong lens"})", fan.token).status == 200);
  auto status = channel.await([&](const value& msg) {
    return msg.string_or("type") == "order" && msg.string_or("order_id") == order_id;
  });
  CHECK(status.string_or("status") == "cancelled");
}
