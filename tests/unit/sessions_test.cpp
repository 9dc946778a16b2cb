// The ended-sessions snapshot every thread reads (actors/sessions.hpp).
#include <catch2/catch.hpp>

#include <actors/sessions.hpp>

using namespace livemart;

TEST_CASE("revocation list: sessions and account cutoffs, in the base or recent", "[unit][sessions]") {
  revocation_list list;
  CHECK_FALSE(list.revoked(1, 100));
  auto v0 = list.version();

  auto base = std::make_shared<revocation_list::entries>();
  base->sessions.insert(100);
  base->cutoffs[2] = 500; // every session of user 2 below 500 ended
  auto next = std::make_shared<revocation_list::snapshot>();
  next->base = base;
  next->recent.sessions.insert(101);
  next->recent.cutoffs[3] = 700;
  list.publish(next);
  CHECK(list.version() > v0);

  CHECK(list.revoked(1, 100));  // base session
  CHECK(list.revoked(9, 101));  // recent session
  CHECK_FALSE(list.revoked(1, 102));
  CHECK(list.revoked(2, 499));  // base cutoff
  CHECK_FALSE(list.revoked(2, 500)); // a session begun after it
  CHECK(list.revoked(3, 699));  // recent cutoff
  CHECK_FALSE(list.revoked(3, 701));
  CHECK_FALSE(list.revoked(4, 1)); // no cutoff for that user
}
