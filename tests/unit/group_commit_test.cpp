#include <persistence/group_commit.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>

using livemart::persistence::group_commit_policy;
using action = group_commit_policy::action;

TEST_CASE("group commit: a burst below the maximum arms exactly one tick", "[group_commit]") {
  group_commit_policy policy{8};
  CHECK(policy.on_enqueue(1) == action::arm_tick);
  const auto generation = policy.generation();
  for (std::size_t size = 2; size < 8; ++size) {
    CAPTURE(size);
    CHECK(policy.on_enqueue(size) == action::none);
  }
  // The tick armed for the first command is still current.
  CHECK(policy.on_tick(generation));
  // on_tick does not change state by itself.
  CHECK(policy.generation() == generation);
}

TEST_CASE("group commit: reaching the maximum flushes at once", "[group_commit]") {
  group_commit_policy policy{4};
  CHECK(policy.on_enqueue(1) == action::arm_tick);
  CHECK(policy.on_enqueue(2) == action::none);
  CHECK(policy.on_enqueue(3) == action::none);
  CHECK(policy.on_enqueue(4) == action::flush_now);
  SECTION("a batch over the maximum also flushes") {
    CHECK(policy.on_enqueue(5) == action::flush_now);
  }
}

TEST_CASE("group commit: a tick armed before a flush is stale", "[group_commit]") {
  group_commit_policy policy{3};
  CHECK(policy.on_enqueue(1) == action::arm_tick);
  const auto old_generation = policy.generation();
  CHECK(policy.on_enqueue(2) == action::none);
  CHECK(policy.on_enqueue(3) == action::flush_now);
  policy.on_flush();

  CHECK(policy.generation() != old_generation);
  CHECK_FALSE(policy.on_tick(old_generation));

  // The next command starts a new batch and arms a new tick.
  CHECK(policy.on_enqueue(1) == action::arm_tick);
  const auto new_generation = policy.generation();
  CHECK(new_generation != old_generation);
  CHECK_FALSE(policy.on_tick(old_generation));
  CHECK(policy.on_tick(new_generation));
  CHECK(policy.on_enqueue(2) == action::none);
}

TEST_CASE("group commit: a flush triggered by the tick disarms it", "[group_commit]") {
  group_commit_policy policy{100};
  CHECK(policy.on_enqueue(1) == action::arm_tick);
  const auto generation = policy.generation();
  CHECK(policy.on_tick(generation));
  policy.on_flush();
  // A duplicate delivery of the same tick does nothing.
  CHECK_FALSE(policy.on_tick(generation));
  CHECK_FALSE(policy.on_tick(policy.generation())); // nothing armed yet
  CHECK(policy.on_enqueue(1) == action::arm_tick);
  CHECK(policy.on_tick(policy.generation()));
}

TEST_CASE("group commit: no tick is current before one is armed", "[group_commit]") {
  group_commit_policy policy{16};
  CHECK_FALSE(policy.on_tick(policy.generation()));
  CHECK_FALSE(policy.on_tick(policy.generation() + 1));
}

TEST_CASE("group commit: generations increase with every flush", "[group_commit]") {
  group_commit_policy policy{2};
  std::uint64_t previous = policy.generation();
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    CHECK(policy.on_enqueue(1) == action::arm_tick);
    CHECK(policy.on_tick(policy.generation()));
    CHECK(policy.on_enqueue(2) == action::flush_now);
    policy.on_flush();
    CHECK(policy.generation() > previous);
    CHECK_FALSE(policy.on_tick(previous));
    previous = policy.generation();
  }
}

TEST_CASE("group commit: a batch maximum of 1 flushes every command", "[group_commit]") {
  group_commit_policy policy{1};
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(policy.on_enqueue(1) == action::flush_now);
    policy.on_flush();
  }
  // Never armed, so no tick is ever current.
  CHECK_FALSE(policy.on_tick(policy.generation()));
}

TEST_CASE("group commit: a batch maximum of 0 is treated as 1", "[group_commit]") {
  group_commit_policy policy{0};
  CHECK(policy.on_enqueue(1) == action::flush_now);
}
