#pragma once
// The attempts of one request at its upstream, whatever protocol the client
// speaks: open an exchange on the decided subset, send the request (through
// the session's sender), read the response head; on failure retry on another
// endpoint and then on stable, within the retry budget and the request's
// time; fail over to stable when the decided subset has nothing in rotation
// or its breaker is open. Outlier detection hears of every outcome.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "net/watchdog.hpp"
#include "proxy/snapshot_registry.hpp"
#include "proxy/upstream_exchange.hpp"
#include "proxy/worker_context.hpp"
#include "routing/decision.hpp"

namespace cohort::proxy {

enum class send_outcome : std::uint8_t {
  ok,
  client_failed,    // reading the request body from the client failed
  upstream_failed,  // writing to the upstream failed (or timed out)
  bad_body,         // the client's body framing is invalid: 400
  too_large,        // the client's body passed limits.max_body_bytes: 413
};

// The session's part of an attempt: how the request reaches an opened exchange.
class request_sender {
 public:
  virtual ~request_sender() = default;
  // Sends head and body (upstream_exchange::set_request, then send_body).
  // Called again only for a request that may be replayed: one without a
  // body, one whose body the session holds whole, or one whose body was
  // never read (the earlier attempt failed before sending).
  virtual net::awaitable<send_outcome> send(upstream_exchange& ex) = 0;
  // send() for the common case, without its coroutine frame: when the request
  // is a head alone over HTTP/1.1, gives ex the request as send() would and
  // returns true; the caller then writes ex.take_head() itself. False: the
  // caller calls send().
  virtual bool ready_head_only(upstream_exchange& ex) {
    (void)ex;
    return false;
  }
};

struct attempt_plan {
  const published_state& pub;
  routing::decision& decision;  // may be failed over to stable
  std::chrono::steady_clock::time_point start;
  // The whole body is held by the session, so a later attempt can send it
  // again (true when there is no body).
  bool body_replayable = true;
  bool idempotent = false;  // the method may be sent twice (RFC 9110 9.2.2)
  bool head_request = false;
  // The client's own deadline (gRPC's grpc-timeout), when shorter than the
  // service's request_timeout.
  std::optional<duration> deadline;
};

struct attempt_result {
  exchange_error err = exchange_error::none;  // none: the exchange holds a response head
  send_outcome sent = send_outcome::ok;       // not ok: the client side broke; the session answers
  bool body_sent = false;                     // the request body was read and sent
};

// Runs the attempts. `ex` is the session's slot for the exchange in
// progress (a session cancels it on a deadline); it holds the last attempt's
// exchange on return.
net::awaitable<attempt_result> run_attempts(worker_context& worker, net::watchdog& dog,
                                            exchange_storage& storage, const attempt_plan& plan,
                                            std::optional<upstream_exchange>& ex,
                                            request_sender& sender);

// The body of the local answer to a request whose attempts ended in err.
std::string failure_body(const routing::snapshot& snap, const routing::decision& d,
                         const upstream_exchange& ex, exchange_error err);

// Request bodies up to this size are read whole before the first attempt, so
// that a failed attempt can be replayed; longer ones are streamed and never
// replayed once sending began.
inline constexpr std::uint64_t max_replay_body = 64 * 1024;

// Methods a client may expect to be sent twice (RFC 9110 9.2.2).
bool idempotent_method(std::string_view method);

}  // namespace cohort::proxy
