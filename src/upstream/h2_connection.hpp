#pragma once
// HTTP/2 to an upstream endpoint (nghttp2): one connection carries many
// exchanges at once, each an h2_stream. Per worker and per endpoint the pool
// keeps a few such connections (endpoint_state::h2); a new stream goes on one
// with room under the peer's SETTINGS_MAX_CONCURRENT_STREAMS, else on a new
// connection, which the subset's circuit breaker counts like an HTTP/1.1 one.
//
// Each connection runs one reader coroutine (bytes -> nghttp2_session_mem_recv)
// and one writer coroutine (nghttp2_session_mem_send output gathered into one
// write). Response DATA is given back to the peer's flow-control window only
// as the stream's reader takes it, so a slow client slows its upstream stream
// instead of filling the gateway's memory. Owned by one worker thread: no locks.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/header_field.hpp"
#include "net/asio.hpp"
#include "upstream/pool.hpp"

struct nghttp2_session;

namespace cohort::upstream {

struct h2_settings {
  duration idle_timeout{60000};                // a connection without streams closes after it
  std::uint32_t max_streams = 100;             // per connection, below the peer's own limit
  std::uint32_t stream_window = 256 * 1024;    // response bytes buffered per stream at most
  std::uint32_t connection_window = 16 << 20;  // and per connection
  std::uint32_t max_header_bytes = 65536;      // one response header block (names + values)
  std::uint32_t max_header_count = 200;
  // The peer's stream limit assumed until its SETTINGS arrive (acquire_h2
  // takes it from a sibling connection when there is one).
  std::uint32_t initial_peer_streams = 100;
};

enum class h2_failure : std::uint8_t {
  none,
  refused,          // the upstream did not process the stream (REFUSED_STREAM, above
                    // GOAWAY's last stream id, or never sent): safe to send elsewhere
  reset,            // RST_STREAM from the upstream
  connection_lost,  // the connection died with the stream in progress
  bad_response,     // a malformed or oversized response head
  cancelled,        // cancel() (a deadline of the downstream side)
};

std::string_view to_string(h2_failure f);

struct h2_piece {
  std::string_view data;  // valid until the next read_body()
  bool done = false;      // END_STREAM: the body (and trailers) are complete
  bool failed = false;
};

class h2_connection;
struct h2_callbacks;

// One request/response on an h2 connection. Made by acquire_h2 (counted
// against the connection's streams from then on); submit() sends HEADERS.
// Destroying an unfinished stream resets it (RST_STREAM CANCEL).
class h2_stream {
 public:
  explicit h2_stream(std::shared_ptr<h2_connection> conn);
  ~h2_stream();
  h2_stream(const h2_stream&) = delete;
  h2_stream& operator=(const h2_stream&) = delete;

  // Sends the request head: pseudo-header fields (":method", ":scheme",
  // ":authority", ":path") first, then regular fields; names in lower case.
  // has_body false ends the stream with the HEADERS frame. False when the
  // connection cannot take the stream (see failure()).
  bool submit(std::span<const header_field> fields, bool has_body);

  // A piece of the request body, as DATA. Returns once nghttp2 has taken all
  // of data (the peer's flow-control window permitting), so data need only
  // live until then. last ends the stream, after trailer_lines when not
  // empty (HTTP/1 field lines "name: value\r\n..."), sent as a trailing HEADERS.
  net::awaitable<bool> send_body(std::string_view data, bool last, std::string_view trailer_lines);

  // Waits for the final response head (1xx heads are skipped).
  net::awaitable<h2_failure> wait_head();
  unsigned status() const { return status_; }
  // Regular fields of the response head, viewing storage of this stream.
  const std::vector<header_field>& headers() const { return headers_; }

  // The next piece of the response body.
  net::awaitable<h2_piece> read_body();
  // Response trailers as HTTP/1 field lines ("grpc-status: 0\r\n...").
  const std::string& trailers() const { return trailers_; }

  // Wakes a pending wait, which then reports cancelled.
  void cancel();

  bool received_any() const { return received_any_; }
  // END_STREAM received and every body byte handed out.
  bool complete() const { return remote_end_ && inbox_.empty(); }
  h2_failure failure() const { return failure_; }
  std::int32_t id() const { return id_; }
  std::uint64_t bytes_received() const { return bytes_received_; }
  h2_connection& connection() { return *conn_; }

 private:
  friend class h2_connection;
  friend struct h2_callbacks;
  void wake();
  net::awaitable<void> wait();
  void fail(h2_failure f);

  std::shared_ptr<h2_connection> conn_;
  net::steady_timer signal_;
  std::int32_t id_ = -1;
  bool closed_ = false;      // nghttp2 closed the stream
  bool remote_end_ = false;  // END_STREAM received
  bool cancelled_ = false;
  bool headers_sent_ = false;
  bool received_any_ = false;
  h2_failure failure_ = h2_failure::none;

  // Request body in flight: the caller's bytes, until nghttp2 has copied them.
  std::string_view send_view_;
  bool send_last_ = false;
  bool eof_sent_ = false;
  bool deferred_ = false;                   // the data provider is paused (NGHTTP2_ERR_DEFERRED)
  std::vector<std::string> send_trailers_;  // name, value, name, value, ...

  // Response head: the current header block as offsets into field_bytes_,
  // turned into views once complete (field_bytes_ does not change after).
  bool head_done_ = false;
  unsigned status_ = 0;
  std::string field_bytes_;
  std::vector<std::uint32_t> field_offsets_;  // name off, name len, value off, value len, ...
  std::vector<header_field> headers_;
  std::string trailers_;
  std::uint32_t block_bytes_ = 0;

  std::string inbox_;   // DATA received, not yet handed out (not yet consumed)
  std::string outbox_;  // the piece last handed out
  std::uint64_t bytes_received_ = 0;
};

class h2_connection : public std::enable_shared_from_this<h2_connection> {
 public:
  h2_connection(net::executor ex, endpoint_state* ep, const h2_settings& s);
  ~h2_connection();
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  // Starts the session on a connected transport (h2c prior knowledge, or TLS
  // that negotiated "h2"): preface, SETTINGS, then the reader and the writer.
  void start(std::unique_ptr<connection> transport);
  // The connect failed: streams waiting in wait_ready() learn it.
  void connect_failed(connect_failure why);
  connect_failure connect_failure_of() const { return connect_failure_; }
  // Until start() or connect_failed(); true when connected.
  net::awaitable<bool> wait_ready();

  // May one more stream go on this connection?
  bool has_room() const;
  bool connecting() const { return state_ == state::connecting; }
  bool closed() const { return state_ == state::closed; }
  // GOAWAY received or sent: no new streams here.
  bool draining() const { return goaway_received_ || goaway_sent_; }
  std::size_t streams() const { return streams_.size(); }
  // Streams this connection may carry at once: ours and the peer's limit.
  std::uint32_t stream_limit() const;
  endpoint_state* endpoint() const { return endpoint_; }
  // Over TLS (the request's :scheme is then "https").
  bool secure() const { return transport_ && transport_->stream.secure(); }

  // Closes at once, failing every stream.
  void close();
  // The pool is going away: forget the endpoint and the breaker, close.
  void abandon();

 private:
  friend class h2_stream;
  friend struct h2_callbacks;
  enum class state : std::uint8_t { connecting, open, closed };

  net::awaitable<void> reader(std::shared_ptr<h2_connection> self);
  net::awaitable<void> writer(std::shared_ptr<h2_connection> self);
  void kick() { wake_.cancel(); }
  void lost();
  void leave_endpoint();
  void attach(h2_stream* s) { streams_.push_back(s); }
  void detach(h2_stream* s);

  net::executor ex_;
  endpoint_state* endpoint_;
  h2_settings settings_;
  nghttp2_session* session_ = nullptr;
  std::unique_ptr<connection> transport_;
  net::steady_timer wake_;   // the writer sleeps on it
  net::steady_timer ready_;  // streams wait on it while connecting
  state state_ = state::connecting;
  connect_failure connect_failure_ = connect_failure::none;
  bool goaway_received_ = false;
  bool goaway_sent_ = false;
  std::int32_t goaway_last_id_ = 0;
  std::vector<h2_stream*> streams_;  // every live h2_stream on this connection
};

struct h2_acquire_result {
  std::unique_ptr<h2_stream> stream;  // null on failure
  connect_failure failure = connect_failure::none;
  breaker_kind overflow = breaker_kind::none;
  bool reused = false;  // the stream went on a connection that already existed
};

// A stream on a connection to ep with room, or on a new connection (bounded
// by connect_timeout and the breaker, which may be null).
net::awaitable<h2_acquire_result> acquire_h2(pool& p, endpoint_state& ep, duration connect_timeout,
                                             circuit_breaker* breaker, const h2_settings& s);

}  // namespace cohort::upstream
