// When the follower honours a switchover sentinel (engine/cdc/handshake.hpp).
#include "engine/cdc/handshake.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace {

using namespace uringmig::engine::cdc;

TEST(online_handshake, sentinel_and_request_round_trip) {
  const auto s = parse_sentinel(format_sentinel({"uringmig_0a1b2c3d", "ff00ff00ee11ee11"}));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->job, "uringmig_0a1b2c3d");
  EXPECT_EQ(s->request, "ff00ff00ee11ee11");
  EXPECT_FALSE(parse_sentinel("ff00ff00ee11ee11"));  // the format before jobs were named
  EXPECT_FALSE(parse_sentinel("/x"));
  EXPECT_FALSE(parse_sentinel("job/"));
  for (auto st : {request_state::requested, request_state::accepted, request_state::cancelled,
                  request_state::done}) {
    const auto r = parse_request(format_request({"id1", st}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->id, "id1");
    EXPECT_EQ(r->state, st);
  }
  EXPECT_FALSE(parse_request("id1 finished"));
  EXPECT_FALSE(parse_request("id1"));
}

TEST(online_handshake, only_a_waiting_switchover_of_this_job_is_honoured) {
  const std::string sentinel = format_sentinel({"uringmig_aaaaaaaa", "r1"});
  const std::string waiting = format_request({"r1", request_state::requested});
  EXPECT_EQ(judge_sentinel(sentinel, "uringmig_aaaaaaaa", waiting, true), sentinel_verdict::honour);
  // Another job on the same source, or a message in another format.
  EXPECT_EQ(judge_sentinel(sentinel, "uringmig_bbbbbbbb", waiting, true),
            sentinel_verdict::other_job);
  EXPECT_EQ(judge_sentinel("r1", "uringmig_aaaaaaaa", waiting, true), sentinel_verdict::other_job);
  // Timed out or stopped (cancelled), superseded by a later request, or never recorded.
  EXPECT_EQ(judge_sentinel(sentinel, "uringmig_aaaaaaaa",
                           format_request({"r1", request_state::cancelled}), true),
            sentinel_verdict::stale);
  EXPECT_EQ(judge_sentinel(sentinel, "uringmig_aaaaaaaa",
                           format_request({"r2", request_state::requested}), true),
            sentinel_verdict::stale);
  EXPECT_EQ(judge_sentinel(sentinel, "uringmig_aaaaaaaa", std::nullopt, true),
            sentinel_verdict::stale);
  // Already answered (a follower restarted after its switchover finished).
  EXPECT_EQ(judge_sentinel(sentinel, "uringmig_aaaaaaaa",
                           format_request({"r1", request_state::done}), true),
            sentinel_verdict::stale);
  // Killed: still "requested", but its process is gone.
  EXPECT_EQ(judge_sentinel(sentinel, "uringmig_aaaaaaaa", waiting, false), sentinel_verdict::stale);
}

TEST(online_handshake, a_process_beats_while_its_pid_lives_and_its_beat_is_fresh) {
  const auto now = unix_ms();
  const std::string me = std::to_string(::getpid());
  EXPECT_TRUE(beating(me, std::to_string(now - 1000), now));
  EXPECT_FALSE(beating(me, std::to_string(now - beat_max_age_ms - 1), now));
  EXPECT_FALSE(beating(std::nullopt, std::to_string(now), now));
  EXPECT_FALSE(beating(me, std::nullopt, now));
  EXPECT_FALSE(beating("x", std::to_string(now), now));
  // A child that exited and was reaped has no process any more.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_FALSE(beating(std::to_string(child), std::to_string(now), now));
}

}  // namespace
