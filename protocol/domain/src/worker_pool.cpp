#include <protocol/worker_pool.hpp>

#include <deque>
#include <vector>

#include <caf/all.hpp>

#include <protocol/messages.hpp>
#include <protocol/log.hpp>
#include <protocol/metrics.hpp>

namespace livemart {
namespace {

struct pending_job {
  caf::message content;
  caf::response_promise promise;
};

struct pool_state {
  std::vector<caf::actor> workers;
  std::vector<bool> busy;
  std::deque<pending_job> queue;
  std::size_t queue_max = 0;
  metrics::gauge* queued = nullptr;
  metrics::counter* rejected = nullptr;
  std::string name_label;
  static inline const char* name = "worker_pool";
};

/// Worker `i` is free: give it the oldest queued job, or mark it idle.
void hand_next_job(caf::stateful_actor<pool_state>* self, std::size_t i) {
  auto& s = self->state;
  if (s.queue.empty()) {
    s.busy[i] = false;
    return;
  }
  auto job = std::move(s.queue.front());
  s.queue.pop_front();
  s.queued->set(static_cast<std::int64_t>(s.queue.size()));
  s.busy[i] = true;
  job.promise.delegate(s.workers[i], std::move(job.content));
}

caf::behavior pool_actor(caf::stateful_actor<pool_state>* self, worker_pool_options options,
                         std::function<caf::actor(caf::actor)> spawn_worker) {
  auto& st = self->state;
  st.queue_max = options.queue_max;
  st.name_label = options.name;
  auto labels = "pool=\"" + options.name + "\"";
  auto& reg = metrics::registry::global();
  st.queued = &reg.make_gauge("livemart_pool_queued", "Jobs waiting for a worker", labels);
  st.rejected = &reg.make_counter("livemart_pool_rejected_total", "Jobs refused because the queue was full", labels);
  for (std::size_t i = 0; i < options.workers; ++i) {
    st.workers.push_back(spawn_worker(caf::actor_cast<caf::actor>(self)));
    st.busy.push_back(false);
    self->monitor(st.workers.back());
  }
  // Supervision: a worker that dies is replaced. Its job in flight is lost
  // (its requester's timeout answers it); the slot is free again.
  self->set_down_handler([self, spawn_worker](caf::down_msg& msg) {
    auto& s = self->state;
    for (std::size_t i = 0; i < s.workers.size(); ++i) {
      if (s.workers[i].address() != msg.source)
        continue;
      log::warn("pool worker died; restarting it", "\"pool\":\"" + s.name_label + "\"");
      s.workers[i] = spawn_worker(caf::actor_cast<caf::actor>(self));
      self->monitor(s.workers[i]);
      // Jobs that queued while the dead worker looked busy go to its
      // replacement; otherwise they would wait for a `done` that never comes.
      hand_next_job(self, i);
      return;
    }
  });
  // The workers end with the pool.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (const auto& w : self->state.workers)
      self->send_exit(w, msg.reason);
    self->quit(msg.reason);
  });
  self->set_default_handler([self](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto& s = self->state;
    for (std::size_t i = 0; i < s.workers.size(); ++i) {
      if (!s.busy[i]) {
        s.busy[i] = true;
        self->delegate(s.workers[i], view.move_content_to_message());
        return caf::delegated<caf::message>{};
      }
    }
    if (s.queue.size() >= s.queue_max) {
      s.rejected->add();
      return make_error(errc::overloaded, "the worker queue is full");
    }
    s.queue.push_back(pending_job{view.move_content_to_message(), self->make_response_promise()});
    s.queued->set(static_cast<std::int64_t>(s.queue.size()));
    return caf::delegated<caf::message>{};
  });
  return {
    [self](done_atom) {
      auto& s = self->state;
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      for (std::size_t i = 0; i < s.workers.size(); ++i) {
        if (s.workers[i] == sender) {
          hand_next_job(self, i);
          return;
        }
      }
    },
  };
}

} // namespace

caf::actor spawn_worker_pool(caf::actor_system& sys, worker_pool_options options,
                             std::function<caf::actor(caf::actor pool)> spawn_worker) {
  return sys.spawn(pool_actor, std::move(options), std::move(spawn_worker));
}

void report_done(caf::local_actor* self, const caf::actor& pool) {
  caf::send_as(caf::actor_cast<caf::actor>(self), pool, done_atom::value);
}

void refuse_unknown_jobs(caf::scheduled_actor* self, const caf::actor& pool) {
  // A message the worker does not understand is still a finished job:
  // without the report the pool would consider this worker busy forever.
  self->set_default_handler([pool](caf::scheduled_actor* worker, caf::message_view&) -> caf::result<caf::message> {
    report_done(worker, pool);
    return caf::sec::unexpected_message;
  });
}

} // namespace livemart
