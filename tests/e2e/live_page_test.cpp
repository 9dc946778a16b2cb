#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <sys/wait.h>

#include "api.hpp"

using namespace livemart::testing;

namespace {

/// Runs a command; returns its exit status and output.
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), static_cast<int>(chunk.size()), pipe) != nullptr)
    output += chunk.data();
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, output};
}

} // namespace

// Debian's Chromium, driven by playwright-core (tests/browser, installed by
// scripts/dev test): the page shows the stock, a purchase through the API
// changes it on the page.
TEST_CASE("the viewer page shows a purchase's stock change in a real browser", "[e2e][streams][browser]") {
  marketplace m;
  auto s = open_shop(m);
  auto camera = listing(m, s, "Leica M6", 249900, 12);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto created = m.c.post("/streams", "{\"title\":\"Camera night\",\"featured\":[" + quote(camera) + "],\"start_now\":true}",
                          s.owner.token);
  REQUIRE(created.status == 201);
  auto stream = created.json().find("stream")->string_or("id");

  auto page = m.c.get("/live/" + stream);
  REQUIRE(page.status == 200);
  CHECK(page.header("content-type").rfind("text/html", 0) == 0);
  CHECK(page.header("content-security-policy").find("script-src 'self'") != std::string::npos);
  REQUIRE(m.c.get("/static/live.js").status == 200);

  auto [status, output] = run("node " LIVEMART_BROWSER_DIR "/live_page.mjs http://127.0.0.1:" + std::to_string(m.srv.port()) +
                              " " + stream + " " + camera + " " + buyer.token + " " + address + " 12");
  INFO(output);
  CHECK(status == 0);
  CHECK(output.find("\"ok\":true") != std::string::npos);
  CHECK(stock_of(m, camera) == 11);
}
