#include "proxy/h2_session.hpp"

#include <nghttp2/nghttp2.h>

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/log.hpp"
#include "http/char_class.hpp"
#include "net/watchdog.hpp"
#include "proxy/attempts.hpp"
#include "proxy/forward_head.hpp"
#include "proxy/request_scope.hpp"
#include "proxy/upstream_exchange.hpp"
#include "routing/compiled.hpp"
#include "routing/decision.hpp"

namespace cohort::proxy {

namespace asio = net::asio;
using net::awaitable;
using net::deadline_kind;
using net::error_code;
using net::use_nothrow;

namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t read_chunk = 16384;
// Output of nghttp2 gathered into one write, up to this many bytes.
constexpr std::size_t write_batch = 65536;
// Response bytes one stream holds for a slow client before it stops reading
// its upstream (the client's flow-control window drains them).
constexpr std::size_t response_buffer_limit = 256 * 1024;
// From the shutdown notice (GOAWAY with the highest stream id) to the final
// GOAWAY: streams the client opened meanwhile are still served.
constexpr auto goaway_grace = std::chrono::milliseconds(500);

// One waiter, woken by notify(); a notify that comes before the wait is kept.
class wakeup {
 public:
  explicit wakeup(asio::io_context& io) : timer_(io) {}
  void notify() {
    pending_ = true;
    timer_.cancel();
  }
  awaitable<void> wait(clock::time_point until = clock::time_point::max()) {
    if (!pending_) {
      timer_.expires_at(until);
      co_await timer_.async_wait(use_nothrow);
    }
    pending_ = false;
  }

 private:
  net::steady_timer timer_;
  bool pending_ = false;
};

std::string_view as_view(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// Header fields to submit: names lowercased (HTTP/2 requires it), names and
// values copied into one arena so the list outlives the views it came from.
class nv_list {
 public:
  void clear() {
    arena_.clear();
    pos_.clear();
  }
  bool empty() const { return pos_.empty(); }
  void add(std::string_view name, std::string_view value) {
    const auto name_at = arena_.size();
    const auto value_at = name_at + name.size();
    arena_.resize(value_at + value.size());
    char* out = arena_.data() + name_at;
    http::detail::swar::lower_copy(out, name.data(), name.size());
    std::memcpy(out + name.size(), value.data(), value.size());
    pos_.push_back({name_at, name.size(), value_at, value.size()});
  }
  void add(std::string_view name, std::uint64_t number) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, number);
    (void)ec;
    add(name, std::string_view(buf, static_cast<std::size_t>(end - buf)));
  }
  // Valid until the next add or clear.
  std::span<const nghttp2_nv> build() {
    nv_.clear();
    auto* base = reinterpret_cast<std::uint8_t*>(arena_.data());
    for (const auto& p : pos_) {
      nv_.push_back(
          {base + p.name_at, base + p.value_at, p.name_len, p.value_len, NGHTTP2_NV_FLAG_NONE});
    }
    return nv_;
  }

 private:
  struct position {
    std::size_t name_at, name_len, value_at, value_len;
  };
  std::string arena_;
  std::vector<position> pos_;
  std::vector<nghttp2_nv> nv_;
};

// Fields of a response head that have no place in HTTP/2 (RFC 9113 8.2.2):
// pseudo-headers, connection-specific ones, and those a Connection field
// names (looked for only when one names a field not dropped anyway).
bool connection_specific(const std::vector<http::header>& fields, std::string_view name,
                         bool check_nominated) {
  return (!name.empty() && name.front() == ':') || is_hop_by_hop(name) ||
         (check_nominated && nominated_by_connection(fields, name));
}

// HTTP/1 trailer field lines ("name: value\r\n"...) as HTTP/2 trailer fields.
void add_trailer_lines(nv_list& out, std::string_view lines) {
  http::for_each_trailer(lines, [&](std::string_view name, std::string_view value) {
    if (!is_hop_by_hop(name)) {
      out.add(name, value);
    }
  });
}

// One request stream. nghttp2 callbacks fill the request side, the stream's
// coroutine forwards it and fills the response side, which nghttp2 drains.
struct h2_stream {
  h2_stream(asio::io_context& io, std::int32_t stream_id)
      : id(stream_id), wake(io), body_wake(io), dog(io) {
    // Sized once for a typical request rather than grown field by field.
    head_bytes.reserve(typical_head_bytes);
    fields.reserve(typical_fields);
    req.headers.reserve(typical_fields);
    storage.request_head.reserve(typical_head_bytes);
    storage.head.headers.reserve(typical_fields);
  }
  static constexpr std::size_t typical_head_bytes = 512;
  static constexpr std::size_t typical_fields = 16;

  struct text_pos {
    std::uint32_t at = 0;
    std::uint32_t len = 0;
    bool present = false;
  };

  void add_field(std::string_view name, std::string_view value) {
    if (name == ":method") {
      method = put(value);
    } else if (name == ":path") {
      path = put(value);
    } else if (name == ":authority") {
      authority = put(value);
    } else if (name == ":protocol") {
      protocol = put(value);
    } else if (name == ":scheme") {
      // The upstream hop has its own scheme; X-Forwarded-Proto carries the client's.
    } else {
      fields.push_back({put(name), put(value)});
    }
  }
  void add_trailer(std::string_view name, std::string_view value) {
    trailers_in.append(name).append(": ").append(value).append("\r\n");
  }

  // The request head as views into head_bytes (complete by now).
  void build_request() {
    // Clients may split Cookie into several fields (RFC 9113 8.2.3); routing
    // and an HTTP/1.1 upstream expect one.
    std::size_t cookies = 0;
    for (const auto& f : fields) {
      cookies += view(f.first) == "cookie" ? 1 : 0;
    }
    text_pos joined;
    if (cookies > 1) {
      std::string all;
      for (const auto& f : fields) {
        if (view(f.first) == "cookie") {
          if (!all.empty()) {
            all += "; ";
          }
          all += view(f.second);
        }
      }
      joined = put(all);
    }
    req.clear();
    req.method = view(method);
    req.target = view(path);
    const auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    req.query = q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1);
    req.ver = http::version::http11;
    req.keep_alive = true;
    req.host = view(authority);
    bool cookie_done = false;
    bool has_length = false;
    for (const auto& f : fields) {
      const auto name = view(f.first);
      const auto value = view(f.second);
      if (name == "cookie" && cookies > 1) {
        if (!cookie_done) {
          req.headers.push_back({name, view(joined)});
          cookie_done = true;
        }
        continue;
      }
      if (name == "host") {
        if (authority.present) {
          continue;  // :authority wins (RFC 9113 8.3.1)
        }
        req.host = value;
      }
      if (name == "content-length") {
        std::uint64_t n = 0;
        const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec == std::errc{} && p == value.data() + value.size()) {
          has_length = true;
          req.content_length = n;
        }
        continue;  // the framing is redone below
      }
      req.headers.push_back({name, value});
    }
    if (end_with_headers) {
      req.framing = http::body_framing::none;
    } else if (has_length) {
      req.framing = http::body_framing::content_length;
    } else {
      req.framing = http::body_framing::chunked;
    }
  }

  std::string_view view(text_pos p) const {
    return std::string_view(head_bytes).substr(p.at, p.len);
  }
  text_pos put(std::string_view s) {
    text_pos p{static_cast<std::uint32_t>(head_bytes.size()), static_cast<std::uint32_t>(s.size()),
               true};
    head_bytes.append(s);
    return p;
  }

  std::int32_t id;
  // Request head, as received.
  std::string head_bytes;
  std::vector<std::pair<text_pos, text_pos>> fields;
  text_pos method, path, authority, protocol;
  std::size_t header_list_size = 0;
  bool too_large = false;
  bool end_with_headers = false;
  http::request_head req;

  // Request body: received and not yet handed to the upstream.
  std::string body_in;
  std::string trailers_in;       // HTTP/1 field lines
  bool body_end = false;         // END_STREAM received
  bool discard_body = false;     // answered locally: DATA is consumed on arrival
  std::uint64_t unconsumed = 0;  // received bytes not yet given back to the flow-control window
  std::uint64_t bytes_in = 0;

  // Response body: from the upstream, waiting for the client's window.
  std::string body_out;
  std::size_t out_pos = 0;
  bool out_done = false;  // body_out holds the rest of the body
  bool deferred = false;  // nghttp2 waits for resume_data
  nv_list trailers_out;
  std::uint64_t bytes_out = 0;

  bool closed = false;  // nghttp2 closed the stream
  bool reset = false;   // closed before the exchange ended (RST_STREAM, connection gone)

  wakeup wake;
  // A gRPC call's request body keeps streaming while its response is read
  // (full duplex): a pump of its own, woken by DATA, joined before the
  // exchange ends.
  wakeup body_wake;
  bool pumping = false;
  bool pump_stop = false;
  net::watchdog dog;  // the stream's deadlines (upstream, and a stalled client)
  std::optional<upstream_exchange> exchange;  // the attempt in progress
  exchange_storage storage;
  std::string held;  // a small request body read whole, so attempts can replay it
  std::string sending;

  std::shared_ptr<const published_state> pub;
  request_scope scope;
};

class h2_connection final : public drainable {
 public:
  h2_connection(net::duplex stream, worker_context& worker, const listener_info& listener)
      : client_(std::move(stream)),
        worker_(worker),
        listener_(listener),
        dog_(worker.io()),
        write_wake_(worker.io()),
        rbuf_(std::make_unique<char[]>(read_chunk)) {
    error_code ec;
    const auto peer = client_.socket().remote_endpoint(ec);
    client_ip_ = ec ? std::string("unknown") : peer.address().to_string();
    client_.socket().set_option(net::tcp::no_delay(true), ec);
    const auto& gateway = worker_.snapshot()->source().gateway;
    http2_ = gateway.http2;
    idle_timeout_ = gateway.limits.idle_timeout;

    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &on_stream_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    // Request DATA is acknowledged only once the upstream took it: the
    // client's window is the gateway's buffer bound.
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_server_new2(&session_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);

    const std::array<nghttp2_settings_entry, 3> settings{{
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, http2_.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, http2_.initial_window_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, http2_.max_header_list_size},
    }};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
    // The connection window shared by all uploads: a few streams' worth.
    const std::uint64_t conn_window =
        std::min<std::uint64_t>(std::uint64_t{http2_.initial_window_size} * 4, 0x7fffffff);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(conn_window));

    worker_.add_connection(this);
    worker_.metrics().connection_opened(listener_.metrics_id);
  }
  ~h2_connection() override {
    nghttp2_session_del(session_);
    worker_.metrics().connection_closed(listener_.metrics_id);
    worker_.remove_connection(this);
  }
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  awaitable<void> run(std::string preface) {
    using namespace asio::experimental::awaitable_operators;
    if (worker_.draining()) {
      begin_goaway();
    }
    co_await dog_.watch(reader(std::move(preface)) && writer(), [this] { on_expiry(); });
  }

  void on_drain() override { begin_goaway(); }
  void on_reload() override { begin_goaway(); }

 private:
  // ------------------------------------------------------------ connection

  awaitable<void> reader(std::string preface) {
    bool ok = preface.empty() || feed(preface);
    while (ok && !closing_) {
      refresh_deadline();
      const auto [ec, n] = co_await client_.read_some(asio::buffer(rbuf_.get(), read_chunk));
      if (ec || n == 0) {
        break;
      }
      ok = feed({rbuf_.get(), n});
      write_wake_.notify();
    }
    closing_ = true;
    write_wake_.notify();
  }

  bool feed(std::string_view bytes) {
    const auto rv = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    start_ready_streams();
    return rv >= 0;
  }

  awaitable<bool> flush() {
    for (;;) {
      wbuf_.clear();
      while (wbuf_.size() < write_batch) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(session_, &data);
        if (n < 0) {
          co_return false;
        }
        if (n == 0) {
          break;
        }
        wbuf_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      }
      if (wbuf_.empty()) {
        co_return true;
      }
      writing_ = true;
      idle_armed_ = false;
      dog_.arm(idle_timeout_, deadline_kind::client_io);
      const auto [ec, n] = co_await client_.write(asio::buffer(wbuf_));
      (void)n;
      writing_ = false;
      dog_.disarm();
      if (ec) {
        co_return false;
      }
    }
  }

  awaitable<void> writer() {
    for (;;) {
      if (!co_await flush() || closing_) {
        break;
      }
      if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
        break;
      }
      refresh_deadline();
      co_await write_wake_.wait(goaway_at_);
      if (goaway_at_ <= clock::now()) {
        goaway_at_ = clock::time_point::max();
        nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                              nullptr, 0);
      }
    }
    // Teardown: end the reader, stop every stream, wait for their coroutines.
    closing_ = true;
    client_.cancel();
    for (auto& [id, s] : streams_) {
      s->reset = true;
      cancel_upstream(*s);
      s->wake.notify();
    }
    while (stream_tasks_ > 0) {
      co_await write_wake_.wait();
    }
    dog_.stop();
    client_.close();
  }

  void on_expiry() {
    if (dog_.expired() == deadline_kind::idle) {
      // Idle: say goodbye properly; the writer closes once GOAWAY is out.
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
      write_wake_.notify();
      return;
    }
    closing_ = true;  // a stalled write: the client is gone
    client_.cancel();
    write_wake_.notify();
  }

  // The connection's own deadline: idle while it carries no stream.
  void refresh_deadline() {
    if (writing_) {
      return;
    }
    if (stream_tasks_ == 0 && streams_.empty()) {
      if (!idle_armed_) {
        dog_.arm(idle_timeout_, deadline_kind::idle);
        idle_armed_ = true;
      }
    } else if (idle_armed_) {
      dog_.disarm();
      idle_armed_ = false;
    }
  }

  // Graceful: a GOAWAY announcing the end, then the final one with the last
  // stream served; streams in flight finish, then the connection closes.
  void begin_goaway() {
    if (goaway_started_) {
      return;
    }
    goaway_started_ = true;
    nghttp2_submit_shutdown_notice(session_);
    goaway_at_ = clock::now() + goaway_grace;
    write_wake_.notify();
  }

  void kick() { write_wake_.notify(); }

  void start_ready_streams() {
    for (const auto id : ready_) {
      const auto it = streams_.find(id);
      if (it == streams_.end()) {
        continue;  // reset before it started
      }
      ++stream_tasks_;
      asio::co_spawn(worker_.io(), stream_task(it->second), [](const std::exception_ptr& e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log::error("http2 stream failed", {{"error", ex.what()}});
          }
        }
      });
    }
    ready_.clear();
  }

  // ------------------------------------------------------------ nghttp2 callbacks

  static h2_connection& self(void* user_data) { return *static_cast<h2_connection*>(user_data); }
  static h2_stream* stream_of(nghttp2_session* session, std::int32_t id) {
    return static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* ud) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    auto& c = self(ud);
    auto s = std::make_shared<h2_stream>(c.worker_.io(), frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s.get());
    c.streams_.emplace(frame->hd.stream_id, std::move(s));
    return 0;
  }

  static int on_header(nghttp2_session* session, const nghttp2_frame* frame,
                       const std::uint8_t* name, std::size_t namelen, const std::uint8_t* value,
                       std::size_t valuelen, std::uint8_t /*flags*/, void* ud) {
    if (frame->hd.type != NGHTTP2_HEADERS) {
      return 0;
    }
    auto* s = stream_of(session, frame->hd.stream_id);
    if (s == nullptr) {
      return 0;
    }
    // The size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 6.5.2).
    s->header_list_size += namelen + valuelen + 32;
    if (s->header_list_size > self(ud).http2_.max_header_list_size) {
      s->too_large = true;
      return 0;
    }
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      s->add_field(as_view(name, namelen), as_view(value, valuelen));
    } else {
      s->add_trailer(as_view(name, namelen), as_view(value, valuelen));
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* ud) {
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
      return 0;
    }
    auto* s = stream_of(session, frame->hd.stream_id);
    if (s == nullptr) {
      return 0;
    }
    const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      s->end_with_headers = end;
      s->body_end = end;
      self(ud).ready_.push_back(s->id);
      return 0;
    }
    if (end) {
      s->body_end = true;
      s->wake.notify();
      s->body_wake.notify();
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t /*flags*/, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* /*ud*/) {
    auto* s = stream_of(session, id);
    if (s == nullptr || s->reset || s->discard_body) {
      nghttp2_session_consume(session, id, len);
      if (s != nullptr) {
        s->bytes_in += len;
      }
      return 0;
    }
    s->body_in.append(reinterpret_cast<const char*>(data), len);
    s->unconsumed += len;
    s->bytes_in += len;
    s->wake.notify();
    s->body_wake.notify();
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t id, std::uint32_t error_code,
                             void* ud) {
    auto* s = stream_of(session, id);
    if (s == nullptr) {
      return 0;
    }
    auto& c = self(ud);
    s->closed = true;
    // A normal close means our END_STREAM went out; anything else (a reset,
    // even one with NO_ERROR) leaves the exchange without a client.
    if (error_code != NGHTTP2_NO_ERROR || !s->out_done) {
      s->reset = true;
      c.cancel_upstream(*s);
    }
    // What the upstream will never take goes back to the connection window.
    if (s->unconsumed > 0) {
      nghttp2_session_consume_connection(session, s->unconsumed);
      s->unconsumed = 0;
    }
    s->body_in.clear();
    s->wake.notify();
    s->body_wake.notify();
    c.streams_.erase(id);  // its coroutine, if any, still holds it
    return 0;
  }

  static ssize_t read_response_body(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                                    std::size_t length, std::uint32_t* flags,
                                    nghttp2_data_source* source, void* /*ud*/) {
    auto* s = static_cast<h2_stream*>(source->ptr);
    const std::size_t avail = s->body_out.size() - s->out_pos;
    if (avail == 0 && !s->out_done) {
      s->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    const std::size_t n = std::min(avail, length);
    std::memcpy(buf, s->body_out.data() + s->out_pos, n);
    s->out_pos += n;
    s->bytes_out += n;
    if (s->out_pos == s->body_out.size()) {
      s->body_out.clear();
      s->out_pos = 0;
    } else if (s->out_pos >= response_buffer_limit / 2) {
      s->body_out.erase(0, s->out_pos);
      s->out_pos = 0;
    }
    if (s->out_done && s->body_out.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!s->trailers_out.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        const auto nv = s->trailers_out.build();
        nghttp2_submit_trailer(session, id, nv.data(), nv.size());
      }
    }
    s->wake.notify();  // room for more
    return static_cast<ssize_t>(n);
  }

  // ------------------------------------------------------------ streams

  // The rest of a full-duplex request body (see h2_sender::start_duplex).
  // The stream and its exchange outlive it: join_pump() waits for it.
  awaitable<void> pump_body(h2_stream& s, upstream_exchange& ex) {
    for (;;) {
      while (s.body_in.empty() && !s.body_end && !s.reset && !s.pump_stop) {
        co_await s.body_wake.wait();
      }
      if (s.reset || s.pump_stop) {
        break;
      }
      const bool end = s.body_end;
      s.sending.clear();
      s.sending.swap(s.body_in);
      if (!co_await ex.send_body(s.sending, end,
                                 end ? std::string_view(s.trailers_in) : std::string_view{})) {
        break;
      }
      consume(s, s.sending.size());
      if (end) {
        break;
      }
    }
    s.pumping = false;
    s.wake.notify();
  }

  // Ends a request body pump before its exchange goes: it is told to stop
  // (and a send waiting on the upstream's window is woken).
  awaitable<void> join_pump(h2_stream& s) {
    if (!s.pumping) {
      co_return;
    }
    s.pump_stop = true;
    s.body_wake.notify();
    if (s.exchange) {
      s.exchange->cancel();
    }
    while (s.pumping) {
      co_await s.wake.wait();
    }
  }

  void cancel_upstream(h2_stream& s) {
    if (s.exchange) {
      s.exchange->cancel();
    }
  }

  awaitable<void> stream_task(std::shared_ptr<h2_stream> s) {
    h2_stream& st = *s;
    co_await st.dog.watch(serve_stream(st), [this, &st] {
      cancel_upstream(st);
      st.wake.notify();
    });
    --stream_tasks_;
    write_wake_.notify();
  }

  awaitable<void> serve_stream(h2_stream& s) {
    s.build_request();
    s.storage.in.set_pool(&worker_.blocks());
    s.pub = worker_.published();
    s.scope.protocol = metrics::protocol::http2;
    s.scope.begin(worker_, *s.pub, s.req, client_ip_, s.header_list_size, listener_.metrics_id);
    if (s.too_large) {
      co_await respond_local(s, 431, "cohort: request header fields too large\n", false);
    } else if (s.req.method == "CONNECT") {
      co_await respond_local(s, 501, "cohort: CONNECT is not supported over HTTP/2\n", false);
    } else {
      ++worker_.active_requests();
      co_await forward(s);
      --worker_.active_requests();
    }
    s.scope.bytes_in = s.header_list_size + s.bytes_in;
    s.scope.bytes_out = s.bytes_out;
    s.scope.finish(worker_, *s.pub, log_line_);
    s.dog.stop();
  }

  // Hands received request bytes back to the client's window.
  void consume(h2_stream& s, std::size_t n) {
    if (s.closed || n == 0) {
      return;  // the close gave the connection window back already
    }
    nghttp2_session_consume(session_, s.id, n);
    s.unconsumed -= n;
    kick();
  }

  void discard_request_body(h2_stream& s) {
    s.discard_body = true;
    consume(s, s.body_in.size());
    s.body_in.clear();
  }

  void resume(h2_stream& s) {
    if (s.deferred && !s.closed) {
      s.deferred = false;
      nghttp2_session_resume_data(session_, s.id);
    }
    kick();
  }

  void reset_stream(h2_stream& s, std::uint32_t code) {
    if (!s.closed) {
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, code);
    }
    s.reset = true;
    kick();
  }

  nghttp2_data_provider provider(h2_stream& s) {
    nghttp2_data_provider p;
    p.source.ptr = &s;
    p.read_callback = &read_response_body;
    return p;
  }

  // Until nghttp2 has sent the whole response (or the client is stuck).
  awaitable<void> wait_closed(h2_stream& s) {
    while (!s.closed) {
      s.dog.arm(idle_timeout_, deadline_kind::client_io);
      co_await s.wake.wait();
      if (!s.closed && s.dog.expired() == deadline_kind::client_io) {
        reset_stream(s, NGHTTP2_CANCEL);
        break;
      }
    }
    s.dog.disarm();
  }

  std::string_view decision_value(h2_stream& s, std::array<char, 192>& buf) {
    return {buf.data(), s.scope.decision.format_reason(buf.data(), buf.size())};
  }

  // A response generated by the gateway (no route, limits, upstream failures).
  awaitable<void> respond_local(h2_stream& s, unsigned status, std::string_view body,
                                bool with_decision) {
    discard_request_body(s);
    s.scope.status = status;
    if (s.closed) {
      co_return;
    }
    const auto& gateway = s.pub->snapshot->source().gateway;
    nv_list& nv = head_fields_;
    nv.clear();
    nv.add(":status", status);
    nv.add("server", "cohort");
    nv.add("content-type", "text/plain; charset=utf-8");
    nv.add("content-length", body.size());
    std::array<char, 192> reason;
    if (with_decision && !gateway.decision_header.empty()) {
      nv.add(gateway.decision_header, decision_value(s, reason));
    }
    const auto fields = nv.build();
    const bool head = s.req.method == "HEAD";
    if (!head) {
      s.body_out.assign(body);
    }
    s.out_done = true;
    const auto prd = provider(s);
    nghttp2_submit_response(session_, s.id, fields.data(), fields.size(), head ? nullptr : &prd);
    kick();
    co_await wait_closed(s);
  }

  // How a stream's request reaches an upstream: the head from the
  // pseudo-headers, the body as DATA arrives (or whole, when held), each piece
  // acknowledged to the client's window once the upstream took it.
  class h2_sender final : public request_sender {
   public:
    h2_sender(h2_connection& c, h2_stream& s) : c_(c), s_(s) {}

    awaitable<send_outcome> send(upstream_exchange& ex) override {
      auto& s = s_;
      s.scope.upstream = ex.endpoint()->key;
      const upstream_request_options opts = s.scope.upstream_options(
          s.pub->snapshot->source().gateway.proxy_headers, c_.client_ip_, c_.listener_.proto);
      ex.set_request(s.req, opts);
      if (held_ || s.req.framing == http::body_framing::none) {
        co_return co_await ex.send_body(s.held, true, s.trailers_in)
            ? send_outcome::ok
            : send_outcome::upstream_failed;
      }
      if (s.scope.grpc && ex.http2()) {
        co_return co_await start_duplex(ex);
      }
      co_return co_await stream_body(ex);
    }

    // A small body announced by length is read whole before the first
    // attempt (it fits in the stream's window), so a failed attempt can be
    // replayed like a bodiless request.
    awaitable<bool> hold_body() {
      auto& s = s_;
      if (s.req.framing != http::body_framing::content_length ||
          s.req.content_length > max_replay_body) {
        co_return true;
      }
      s.dog.arm(c_.idle_timeout_, deadline_kind::client_io);
      while (!s.body_end && !s.reset) {
        co_await s.wake.wait();
        if (s.dog.expired() == deadline_kind::client_io) {
          co_return false;
        }
      }
      s.dog.disarm();
      if (s.reset) {
        co_return false;
      }
      s.held.swap(s.body_in);
      c_.consume(s, s.held.size());
      held_ = true;
      co_return true;
    }
    bool body_replayable() const { return held_ || s_.req.framing == http::body_framing::none; }

   private:
    // Sends what has arrived of the body with the head, then leaves the rest
    // to a pump so that the response can be read meanwhile: a gRPC stream
    // whose client waits for answers before it sends more must not wait for
    // the end of its own request first.
    awaitable<send_outcome> start_duplex(upstream_exchange& ex) {
      auto& s = s_;
      const bool end = s.body_end;
      s.sending.clear();
      s.sending.swap(s.body_in);
      if (!co_await ex.send_body(s.sending, end,
                                 end ? std::string_view(s.trailers_in) : std::string_view{})) {
        co_return send_outcome::upstream_failed;
      }
      c_.consume(s, s.sending.size());
      if (!end) {
        s.pumping = true;
        s.pump_stop = false;
        asio::co_spawn(c_.worker_.io(), c_.pump_body(s, ex), asio::detached);
      }
      co_return send_outcome::ok;
    }

    awaitable<send_outcome> stream_body(upstream_exchange& ex) {
      auto& s = s_;
      const std::uint64_t max_body = s.pub->snapshot->source().gateway.limits.max_body_bytes;
      std::uint64_t total = 0;
      bool first = true;
      for (;;) {
        const bool end = s.body_end;
        s.sending.clear();
        s.sending.swap(s.body_in);
        total += s.sending.size();
        if (max_body != 0 && total > max_body) {
          co_return send_outcome::too_large;
        }
        if ((first || end || !s.sending.empty()) &&
            !co_await ex.send_body(s.sending, end,
                                   end ? std::string_view(s.trailers_in) : std::string_view{})) {
          co_return send_outcome::upstream_failed;
        }
        first = false;
        c_.consume(s, s.sending.size());
        if (end) {
          co_return send_outcome::ok;
        }
        s.dog.arm(c_.idle_timeout_, deadline_kind::client_io);
        while (s.body_in.empty() && !s.body_end && !s.reset) {
          co_await s.wake.wait();
          if (s.dog.expired() == deadline_kind::client_io) {
            co_return send_outcome::client_failed;
          }
        }
        if (s.reset) {
          co_return send_outcome::client_failed;
        }
      }
    }

    h2_connection& c_;
    h2_stream& s_;
    bool held_ = false;
  };

  awaitable<void> forward(h2_stream& s) {
    const routing::snapshot& snap = *s.pub->snapshot;
    const auto& gateway = snap.source().gateway;
    routing::decision& d = s.scope.decision;
    if (d.kind == routing::reason_kind::no_route) {
      std::string body = "cohort: no route for ";
      body.append(s.req.host).append(s.req.path).append("\n");
      co_await respond_local(s, 404, body, false);
      co_return;
    }
    if (gateway.limits.max_body_bytes != 0 && s.req.framing == http::body_framing::content_length &&
        s.req.content_length > gateway.limits.max_body_bytes) {
      co_await respond_local(s, 413, "cohort: request body larger than the limit\n", true);
      co_return;
    }
    h2_sender sender(*this, s);
    if (!co_await sender.hold_body()) {
      reset_stream(s, NGHTTP2_CANCEL);
      co_return;
    }
    const bool head_request = s.req.method == "HEAD";
    const attempt_plan plan{*s.pub,
                            d,
                            s.scope.start,
                            sender.body_replayable(),
                            idempotent_method(s.req.method),
                            head_request,
                            s.scope.grpc_timeout};
    const auto result = co_await run_attempts(worker_, s.dog, s.storage, plan, s.exchange, sender);
    if (s.reset) {
      co_await join_pump(s);
      s.exchange.reset();
      co_return;
    }
    switch (result.sent) {
      case send_outcome::ok:
      case send_outcome::upstream_failed:
        break;
      case send_outcome::client_failed:
      case send_outcome::bad_body:
        s.exchange.reset();
        reset_stream(s, NGHTTP2_CANCEL);
        co_return;
      case send_outcome::too_large:
        s.exchange.reset();
        co_await respond_local(s, 413, "cohort: request body larger than the limit\n", true);
        co_return;
    }
    if (result.err != exchange_error::none) {
      const std::string body = failure_body(snap, d, *s.exchange, result.err);
      co_await join_pump(s);
      s.exchange.reset();
      co_await respond_local(s, status_for(result.err), body, true);
      co_return;
    }
    co_await relay_response(s, *s.exchange);
    co_await join_pump(s);
    s.exchange.reset();
  }

  awaitable<void> relay_response(h2_stream& s, upstream_exchange& ex) {
    const auto& rh = ex.head();
    s.scope.status = rh.status;
    const auto& snap = *s.pub->snapshot;
    const auto& gateway = snap.source().gateway;
    const bool head_request = s.req.method == "HEAD";
    const bool no_body = head_request || rh.framing == http::body_framing::none;
    // nghttp2 copies the fields on submit: one list serves every stream.
    nv_list& nv = head_fields_;
    nv.clear();
    nv.add(":status", rh.status);
    const bool check_nominated = nominates_end_to_end_field(rh.headers);
    for (const auto& h : rh.headers) {
      if (!connection_specific(rh.headers, h.name, check_nominated)) {
        nv.add(h.name, h.value);
      }
    }
    if (rh.framing == http::body_framing::content_length && !head_request) {
      nv.add("content-length", rh.content_length);
    } else if (no_body && rh.status >= 200 && rh.status != 204 &&
               rh.find("content-length") != nullptr) {
      nv.add("content-length", rh.content_length);  // HEAD keeps the declared length
    }
    if (gateway.proxy_headers.via) {
      nv.add("via", rh.ver == http::version::http10 ? "1.0 cohort" : "1.1 cohort");
    }
    std::array<char, 192> reason;
    if (!gateway.decision_header.empty()) {
      nv.add(gateway.decision_header, decision_value(s, reason));
    }
    const std::string cookie = anonymous_cookie(snap, s.scope.decision);
    if (!cookie.empty()) {
      nv.add("set-cookie", cookie);
    }
    const auto fields = nv.build();
    if (no_body) {
      s.out_done = true;
      nghttp2_submit_response(session_, s.id, fields.data(), fields.size(), nullptr);
      s.scope.settle_grpc(worker_, *s.pub, ex);
      co_await join_pump(s);
      ex.finish();
      kick();
      co_await wait_closed(s);
      co_return;
    }
    const auto prd = provider(s);
    nghttp2_submit_response(session_, s.id, fields.data(), fields.size(), &prd);
    kick();
    for (;;) {
      response_piece piece;
      if (!ex.take_buffered_body(piece)) {
        piece = co_await ex.read_body();
      }
      if (s.reset) {
        co_return;
      }
      if (piece.failed) {
        count_upstream_failure(worker_, *s.pub, s.scope.decision, exchange_error::body_failed);
        reset_stream(s, NGHTTP2_INTERNAL_ERROR);
        co_return;
      }
      s.body_out.append(piece.data);
      if (piece.done) {
        add_trailer_lines(s.trailers_out, ex.trailers());
        s.out_done = true;
      }
      resume(s);
      if (piece.done) {
        break;
      }
      // Stop reading the upstream until the client's window lets this drain.
      s.dog.arm(idle_timeout_, deadline_kind::client_io);
      while (s.body_out.size() - s.out_pos >= response_buffer_limit && !s.reset) {
        co_await s.wake.wait();
        if (s.dog.expired() == deadline_kind::client_io) {
          reset_stream(s, NGHTTP2_CANCEL);
          co_return;
        }
      }
      if (s.reset) {
        co_return;
      }
    }
    s.scope.settle_grpc(worker_, *s.pub, ex);
    co_await join_pump(s);
    ex.finish();
    co_await wait_closed(s);
  }

  net::duplex client_;
  worker_context& worker_;
  const listener_info& listener_;
  net::watchdog dog_;
  wakeup write_wake_;
  std::unique_ptr<char[]> rbuf_;
  std::string wbuf_;
  nv_list head_fields_;  // a response head being submitted (nghttp2 copies it)
  nghttp2_session* session_ = nullptr;
  config::http2_config http2_;
  duration idle_timeout_{60000};
  std::string client_ip_;
  std::unordered_map<std::int32_t, std::shared_ptr<h2_stream>> streams_;
  std::vector<std::int32_t> ready_;  // streams whose request head is complete
  std::size_t stream_tasks_ = 0;
  bool closing_ = false;
  bool writing_ = false;
  bool idle_armed_ = false;
  bool goaway_started_ = false;
  clock::time_point goaway_at_ = clock::time_point::max();
  std::string log_line_;
};

}  // namespace

awaitable<void> serve_h2(net::duplex stream, worker_context& worker, const listener_info& listener,
                         std::string_view already_read) {
  std::string preface(already_read);  // before the first suspension: the caller's view may go
  h2_connection connection(std::move(stream), worker, listener);
  co_await connection.run(std::move(preface));
}

}  // namespace cohort::proxy
