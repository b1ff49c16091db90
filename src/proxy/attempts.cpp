#include "proxy/attempts.hpp"

#include "common/monotonic.hpp"

#include <cstdio>

#include "proxy/request_scope.hpp"
#include "routing/compiled.hpp"

namespace cohort::proxy {

using net::deadline_kind;

namespace {

// The rollout's stable subset when the decided subset is another one (a
// canary or baseline that may fail over to it), else -1.
std::int32_t stable_of(const routing::snapshot& snap, const routing::decision& d) {
  if (d.rollout < 0 || d.service < 0) {
    return -1;
  }
  const auto stable = snap.rollouts()[static_cast<std::size_t>(d.rollout)]->stable;
  return d.subset == stable ? -1 : static_cast<std::int32_t>(stable);
}

void fail_over(worker_context& worker, const published_state& pub, routing::decision& d,
               std::int32_t to) {
  const auto& subsets = pub.snapshot->services()[static_cast<std::size_t>(d.service)].subsets;
  const auto target = static_cast<std::uint32_t>(to);
  worker.metrics().record_failover(pub.series.failover(d.rollout, d.subset));
  d.fail_over(target, subsets[d.subset].name, subsets[target].name);
}

// May a failed attempt be made again elsewhere? Only when no upstream can
// have acted on it: the connection never opened, or an idempotent request
// without a body got not a single response byte back.
bool replayable(exchange_error err, const upstream_exchange& ex, bool body_replayable,
                bool idempotent) {
  switch (err) {
    case exchange_error::no_endpoint:
    case exchange_error::connect_refused:
    case exchange_error::connect_timeout:
    case exchange_error::connect_failed:
      return true;
    case exchange_error::send_failed:
    case exchange_error::closed_early:
    case exchange_error::response_timeout:
      return body_replayable && idempotent && !ex.received_any();
    default:
      return false;
  }
}

// Holds one unit of the worker's retry budget until the request ends.
class retry_hold {
 public:
  explicit retry_hold(upstream::retry_budget& budget) : budget_(budget) {}
  ~retry_hold() {
    if (held_) {
      budget_.release();
    }
  }
  retry_hold(const retry_hold&) = delete;
  retry_hold& operator=(const retry_hold&) = delete;
  bool acquire(std::uint64_t active, const config::retry_config& policy) {
    held_ = held_ || budget_.try_acquire(active, policy.budget, policy.min_concurrency);
    return held_;
  }

 private:
  upstream::retry_budget& budget_;
  bool held_ = false;
};

}  // namespace

bool idempotent_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

net::awaitable<attempt_result> run_attempts(worker_context& worker, net::watchdog& dog,
                                            exchange_storage& storage, const attempt_plan& plan,
                                            std::optional<upstream_exchange>& ex,
                                            request_sender& sender) {
  const routing::snapshot& snap = *plan.pub.snapshot;
  routing::decision& d = plan.decision;
  const auto service_index = static_cast<std::size_t>(d.service);
  const auto& service = snap.services()[service_index];
  const std::int32_t stable = stable_of(snap, d);
  const duration budget =
      plan.deadline ? std::min(*plan.deadline, service.request_timeout) : service.request_timeout;
  // A canary (or baseline) with nothing in rotation: its users go to stable
  // before anything is tried on it.
  if (stable >= 0 && service.failover == config::failover_mode::stable &&
      worker.pool().in_rotation(service_index, d.subset, plan.start) == 0) {
    fail_over(worker, plan.pub, d, stable);
  }
  retry_hold retry(worker.retry_budget());
  const upstream::endpoint_state* failed = nullptr;
  attempt_result result;
  for (unsigned attempt = 0;; ++attempt) {
    ex.reset();
    ex.emplace(worker, dog, storage);
    auto sent = send_outcome::ok;
    auto err = ex->begin_open(snap, service_index, d.subset, failed);
    if (err == exchange_error::none && !ex->open()) {
      err = co_await ex->finish_open();
    }
    if (err == exchange_error::none) {
      const auto spent = std::chrono::duration_cast<duration>(coarse_now() - plan.start);
      const auto left = std::max(duration{1}, budget - spent);
      ex->set_try_timeout(std::min(service.per_try_timeout.value_or(left), left));
      if (sender.ready_head_only(*ex)) {
        const auto [ec, n] = co_await ex->stream()->write(net::asio::buffer(ex->take_head()));
        (void)n;
        sent = ex->head_sent(ec) ? send_outcome::ok : send_outcome::upstream_failed;
      } else {
        sent = co_await sender.send(*ex);
      }
      if (sent == send_outcome::ok) {
        result.body_sent = true;
        if (ex->http2()) {
          err = co_await ex->read_head(plan.head_request);
        } else {
          // read_head() inlined: the response head is read once per request,
          // without a coroutine frame of its own.
          auto head = ex->begin_head(plan.head_request);
          while (!head) {
            const auto [ec, n] = co_await ex->stream()->read_some(ex->head_room());
            head = ex->head_read(ec, n, plan.head_request);
          }
          err = *head;
        }
      }
      // A pooled connection the upstream closed while idle: one retry on a
      // fresh connection, only when the request can be replayed.
      if (plan.body_replayable && ex->may_retry() &&
          (sent == send_outcome::upstream_failed || err == exchange_error::closed_early)) {
        err = co_await ex->reopen();
        if (err == exchange_error::none) {
          sent = co_await sender.send(*ex);
          if (sent == send_outcome::ok) {
            err = co_await ex->read_head(plan.head_request);
          }
        }
      }
      switch (sent) {
        case send_outcome::ok:
          break;
        case send_outcome::upstream_failed:
          err = dog.expired() == deadline_kind::upstream_io ? exchange_error::response_timeout
                                                            : exchange_error::send_failed;
          break;
        default:
          result.sent = sent;
          result.err = err;
          co_return result;
      }
    }
    result.err = err;
    const auto now = std::chrono::steady_clock::now();
    if (err == exchange_error::breaker_open || err == exchange_error::rate_limited) {
      // Refused by the gateway itself: no upstream is blamed, nothing is
      // retried on the subset. A canary or baseline sends the user to stable.
      if (err == exchange_error::breaker_open) {
        count_breaker_overflow(worker, plan.pub, d, ex->overflow());
      } else {
        worker.metrics().record_rate_limited(plan.pub.series.upstream(d.service, d.subset));
      }
      if (stable >= 0 && d.failover_from < 0 && service.failover == config::failover_mode::stable) {
        fail_over(worker, plan.pub, d, stable);
        failed = nullptr;
        continue;
      }
      break;
    }
    if (ex->endpoint() != nullptr) {
      // Outlier detection: gateway errors and 5xx answers count against the endpoint.
      const bool failure = err != exchange_error::none || ex->head().status >= 500;
      worker.pool().report(service_index, d.subset, *ex->endpoint(), failure, now, service.outlier);
    }
    if (err == exchange_error::none) {
      break;
    }
    count_upstream_failure(worker, plan.pub, d, err);
    dog.reset_expired();
    if (!service.retries.enabled || attempt >= 2 ||
        !replayable(err, *ex, plan.body_replayable, plan.idempotent) ||
        now - plan.start >= budget) {
      break;
    }
    // Once more on another endpoint of the subset, then on stable.
    const upstream::endpoint_state* ep = ex->endpoint();
    const std::size_t others = worker.pool().in_rotation(service_index, d.subset, now) -
                               (ep != nullptr && ep->available(now) ? 1 : 0);
    std::int32_t next_subset = -1;
    if (attempt == 0 && ep != nullptr && others > 0) {
      next_subset = static_cast<std::int32_t>(d.subset);
    } else if (stable >= 0 && d.failover_from < 0 && service.retries.to_stable) {
      next_subset = stable;
    }
    if (next_subset < 0) {
      break;
    }
    // The budget keeps retries from piling onto a struggling subset. A
    // refused connection cost no upstream anything, and a retry that fails a
    // canary or baseline user over to stable moves the request off the sick
    // subset instead of adding to it: neither spends budget.
    const bool to_stable = next_subset != static_cast<std::int32_t>(d.subset);
    if (!to_stable && err != exchange_error::connect_refused &&
        err != exchange_error::no_endpoint &&
        !retry.acquire(worker.active_requests(), service.retries)) {
      break;
    }
    if (next_subset == static_cast<std::int32_t>(d.subset)) {
      failed = ep;
    } else {
      fail_over(worker, plan.pub, d, next_subset);
      failed = nullptr;
    }
  }
  co_return result;
}

std::string failure_body(const routing::snapshot& snap, const routing::decision& d,
                         const upstream_exchange& ex, exchange_error err) {
  const auto& service = snap.services()[static_cast<std::size_t>(d.service)];
  const auto& subset = service.subsets[d.subset];
  std::string body = "cohort: upstream error: service '";
  body += service.name;
  body += "' subset '";
  body += subset.name;
  body += "'";
  if (err == exchange_error::rate_limited) {
    const auto& configs = snap.source().services;
    const auto* limit =
        static_cast<std::size_t>(d.service) < configs.size() &&
                d.subset < configs[static_cast<std::size_t>(d.service)].subsets.size()
            ? &configs[static_cast<std::size_t>(d.service)].subsets[d.subset].rate_limit
            : nullptr;
    body += ": rate limit exceeded";
    if (limit != nullptr && *limit) {
      char rate[32];
      std::snprintf(rate, sizeof rate, "%g", (*limit)->requests_per_second);
      body += " (";
      body += rate;
      body += " requests/s, burst ";
      body += std::to_string((*limit)->burst);
      body += ")";
    }
    const auto wait_ms = (ex.retry_after().count() + 999'999) / 1'000'000;
    body += "; retry in ";
    body += std::to_string(wait_ms);
    body += "ms\n";
    return body;
  }
  if (err == exchange_error::breaker_open) {
    body += ": circuit breaker ";
    body += upstream::to_string(ex.overflow());
    body += " open\n";
    return body;
  }
  if (ex.endpoint() != nullptr) {
    body += " endpoint ";
    body += ex.endpoint()->key;
  }
  body += ": ";
  // A TLS failure says what OpenSSL said, not just "connect failed".
  body += ex.failure_detail().empty() ? to_string(err) : std::string_view(ex.failure_detail());
  if (err == exchange_error::response_timeout) {
    body += " (";
    if (service.per_try_timeout) {
      body += "per_try_timeout ";
      body += format_duration(*service.per_try_timeout);
      body += ", ";
    }
    body += "request_timeout ";
    body += format_duration(service.request_timeout);
    body += ")";
  }
  body += '\n';
  return body;
}

}  // namespace cohort::proxy
