#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

/// A bounded pool of (usually detached) workers behind one handle.
///
/// The pool forwards each request to an idle worker with `delegate`, so the
/// worker answers the requester directly; a worker reports `done_atom` to the
/// pool when it finishes a job. While every worker is busy, requests wait in
/// a queue of at most `queue_max`; beyond that they fail at once with
/// `errc::overloaded` (503) instead of piling up. Used for the libpq read
/// connections, Argon2id hashing and the Stripe client: persistence, actors
/// and http may all use it. It answers with `errc` and speaks `done_atom`,
/// so it lives in the domain library, not in support.
namespace livemart {

struct worker_pool_options {
  std::string name;          ///< for metrics: livemart_pool_*{pool="name"}
  std::size_t workers = 1;
  std::size_t queue_max = 1024;
};

/// Spawns the pool; `spawn_worker(pool)` spawns one worker that knows the
/// pool's handle. The pool supervises its workers: one that dies is
/// replaced; all of them end with the pool.
caf::actor spawn_worker_pool(caf::actor_system& sys, worker_pool_options options,
                             std::function<caf::actor(caf::actor pool)> spawn_worker);

/// Called by a worker after it answered a job.
void report_done(caf::local_actor* self, const caf::actor& pool);

/// Makes a worker answer messages it does not understand with an error and
/// still report them done. Call it when the worker starts.
void refuse_unknown_jobs(caf::scheduled_actor* self, const caf::actor& pool);

} // namespace livemart
