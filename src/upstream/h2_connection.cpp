#include "upstream/h2_connection.hpp"

#include <algorithm>
#include <array>

#include <nghttp2/nghttp2.h>

#include <boost/asio/this_coro.hpp>

#include "http/chunked.hpp"

namespace cohort::upstream {

namespace asio = net::asio;
using net::use_nothrow;

namespace {

constexpr std::size_t read_chunk = 16384;
constexpr std::size_t max_write_batch = 65536;

std::string_view view(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  // nghttp2 copies names and values on submit (no NO_COPY flags).
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

// "name: value\r\n..." -> lower-case name, value, name, value, ...
void split_field_lines(std::string_view lines, std::vector<std::string>& out) {
  http::for_each_trailer(lines, [&](std::string_view name, std::string_view value) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; });
    out.push_back(std::move(lower));
    out.emplace_back(value);
  });
}

}  // namespace

std::string_view to_string(h2_failure f) {
  switch (f) {
    case h2_failure::none:
      return "ok";
    case h2_failure::refused:
      return "stream refused";
    case h2_failure::reset:
      return "stream reset";
    case h2_failure::connection_lost:
      return "connection lost";
    case h2_failure::bad_response:
      return "invalid response";
    case h2_failure::cancelled:
      return "cancelled";
  }
  return "error";
}

// The nghttp2 callbacks, as static members of a friend so they reach the
// private state of connections and streams.
struct h2_callbacks {
  static h2_connection& conn(void* user) { return *static_cast<h2_connection*>(user); }
  static h2_stream* stream(nghttp2_session* s, std::int32_t id) {
    return static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(s, id));
  }

  static int on_begin_headers(nghttp2_session* s, const nghttp2_frame* frame, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) {
      return 0;
    }
    if (h2_stream* st = stream(s, frame->hd.stream_id)) {
      st->received_any_ = true;
      st->block_bytes_ = 0;
      if (!st->head_done_) {
        st->field_bytes_.clear();
        st->field_offsets_.clear();
      }
    }
    return 0;
  }

  static int on_header(nghttp2_session* s, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user) {
    h2_stream* st = stream(s, frame->hd.stream_id);
    if (st == nullptr) {
      return 0;
    }
    const auto& lim = conn(user).settings_;
    st->block_bytes_ += static_cast<std::uint32_t>(namelen + valuelen);
    st->bytes_received_ += namelen + valuelen;
    const std::size_t count = st->head_done_ ? 0 : st->field_offsets_.size() / 4;
    if (st->block_bytes_ > lim.max_header_bytes || count >= lim.max_header_count) {
      st->fail(h2_failure::bad_response);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    }
    const std::string_view n = view(name, namelen);
    const std::string_view v = view(value, valuelen);
    if (st->head_done_) {  // a trailing header block
      st->trailers_.append(n);
      st->trailers_.append(": ");
      st->trailers_.append(v);
      st->trailers_.append("\r\n");
      return 0;
    }
    if (n == ":status") {
      unsigned code = 0;
      for (const char c : v) {
        code = code * 10 + static_cast<unsigned>(c - '0');  // nghttp2 checked: 3 digits
      }
      st->status_ = code;
      return 0;
    }
    if (!n.empty() && n.front() == ':') {
      return 0;
    }
    const auto off = static_cast<std::uint32_t>(st->field_bytes_.size());
    st->field_bytes_.append(n);
    st->field_bytes_.append(v);
    st->field_offsets_.insert(st->field_offsets_.end(), {off, static_cast<std::uint32_t>(namelen),
                                                         off + static_cast<std::uint32_t>(namelen),
                                                         static_cast<std::uint32_t>(valuelen)});
    return 0;
  }

  static int on_frame_recv(nghttp2_session* s, const nghttp2_frame* frame, void* user) {
    auto& c = conn(user);
    switch (frame->hd.type) {
      case NGHTTP2_GOAWAY:
        c.goaway_received_ = true;
        c.goaway_last_id_ = frame->goaway.last_stream_id;
        c.leave_endpoint();
        return 0;
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA:
        break;
      default:
        return 0;
    }
    h2_stream* st = stream(s, frame->hd.stream_id);
    if (st == nullptr) {
      return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && !st->head_done_) {
      if (st->status_ >= 100 && st->status_ < 200) {
        st->status_ = 0;  // interim: the final head follows
      } else {
        st->headers_.clear();
        const std::string_view bytes = st->field_bytes_;
        for (std::size_t i = 0; i + 3 < st->field_offsets_.size(); i += 4) {
          st->headers_.push_back(
              header_field{bytes.substr(st->field_offsets_[i], st->field_offsets_[i + 1]),
                           bytes.substr(st->field_offsets_[i + 2], st->field_offsets_[i + 3])});
        }
        st->head_done_ = true;
      }
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      st->remote_end_ = true;
    }
    st->wake();
    return 0;
  }

  static int on_data_chunk(nghttp2_session* s, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void*) {
    h2_stream* st = stream(s, id);
    if (st == nullptr) {
      // Nobody will read it: give the window back at once.
      nghttp2_session_consume(s, id, len);
      return 0;
    }
    st->received_any_ = true;
    st->bytes_received_ += len;
    st->inbox_.append(view(data, len));
    st->wake();
    return 0;
  }

  static int on_frame_send(nghttp2_session* s, const nghttp2_frame* frame, void*) {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      if (h2_stream* st = stream(s, frame->hd.stream_id)) {
        st->headers_sent_ = true;
      }
    }
    return 0;
  }

  static int on_frame_not_send(nghttp2_session* s, const nghttp2_frame* frame, int, void*) {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      if (h2_stream* st = stream(s, frame->hd.stream_id); st != nullptr && !st->headers_sent_) {
        st->fail(h2_failure::refused);
      }
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session* s, std::int32_t id, std::uint32_t code, void* user) {
    h2_stream* st = stream(s, id);
    if (st == nullptr) {
      return 0;
    }
    auto& c = conn(user);
    st->closed_ = true;
    nghttp2_session_set_stream_user_data(s, id, nullptr);
    if (!st->remote_end_ && st->failure_ == h2_failure::none) {
      if (code == NGHTTP2_REFUSED_STREAM || !st->headers_sent_ ||
          (c.goaway_received_ && id > c.goaway_last_id_)) {
        st->fail(h2_failure::refused);
      } else {
        st->fail(h2_failure::reset);
      }
    }
    // Bytes still in the inbox stay counted against the connection window
    // until read or dropped (the stream's own window no longer matters).
    st->wake();
    return 0;
  }

  static ssize_t read_body(nghttp2_session* s, std::int32_t id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source*, void*) {
    h2_stream* st = stream(s, id);
    if (st == nullptr) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    const std::size_t n = std::min(length, st->send_view_.size());
    if (n > 0) {
      std::copy_n(st->send_view_.data(), n, buf);
      st->send_view_.remove_prefix(n);
    }
    if (st->send_view_.empty()) {
      if (st->send_last_) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        st->eof_sent_ = true;
        if (!st->send_trailers_.empty()) {
          std::vector<nghttp2_nv> nva;
          nva.reserve(st->send_trailers_.size() / 2);
          for (std::size_t i = 0; i + 1 < st->send_trailers_.size(); i += 2) {
            nva.push_back(make_nv(st->send_trailers_[i], st->send_trailers_[i + 1]));
          }
          if (nghttp2_submit_trailer(s, id, nva.data(), nva.size()) == 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          }
        }
      } else if (n == 0) {
        st->deferred_ = true;
        st->wake();
        return NGHTTP2_ERR_DEFERRED;
      }
      st->wake();
    }
    return static_cast<ssize_t>(n);
  }
};

// ---------------------------------------------------------------- h2_stream

h2_stream::h2_stream(std::shared_ptr<h2_connection> conn)
    : conn_(std::move(conn)), signal_(conn_->ex_) {
  conn_->attach(this);
}

h2_stream::~h2_stream() {
  auto* session = conn_->session_;
  if (id_ > 0 && !closed_) {
    nghttp2_session_set_stream_user_data(session, id_, nullptr);
    if (conn_->state_ != h2_connection::state::closed) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    }
  }
  if (!inbox_.empty()) {
    // Received but never read: the connection window gets it back.
    nghttp2_session_consume_connection(session, inbox_.size());
  }
  conn_->detach(this);
  conn_->kick();
}

void h2_stream::wake() {
  signal_.cancel();
}

void h2_stream::fail(h2_failure f) {
  if (failure_ == h2_failure::none) {
    failure_ = f;
  }
  wake();
}

void h2_stream::cancel() {
  cancelled_ = true;
  wake();
}

// Several waits may be pending at once (a request body still streaming while
// the response is read): setting the expiry would cancel the others, so it
// is set once; wake() cancels, which wakes every wait, and each re-checks.
net::awaitable<void> h2_stream::wait() {
  if (signal_.expiry() != net::steady_timer::time_point::max()) {
    signal_.expires_at(net::steady_timer::time_point::max());
  }
  co_await signal_.async_wait(use_nothrow);
}

bool h2_stream::submit(std::span<const header_field> fields, bool has_body) {
  if (conn_->closed() || conn_->goaway_received_) {
    failure_ = h2_failure::refused;
    return false;
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (const auto& f : fields) {
    nva.push_back(make_nv(f.name, f.value));
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = &h2_callbacks::read_body;
  const std::int32_t id = nghttp2_submit_request(conn_->session_, nullptr, nva.data(), nva.size(),
                                                 has_body ? &provider : nullptr, this);
  if (id < 0) {
    failure_ = h2_failure::refused;
    return false;
  }
  id_ = id;
  if (!has_body) {
    send_last_ = true;
    eof_sent_ = true;
  }
  conn_->kick();
  return true;
}

net::awaitable<bool> h2_stream::send_body(std::string_view data, bool last,
                                          std::string_view trailer_lines) {
  if (eof_sent_) {
    co_return data.empty() && failure_ == h2_failure::none;
  }
  send_view_ = data;
  send_last_ = last;
  if (last && !trailer_lines.empty()) {
    split_field_lines(trailer_lines, send_trailers_);
  }
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(conn_->session_, id_);
  }
  conn_->kick();
  for (;;) {
    const bool taken = send_view_.empty() && (!last || eof_sent_);
    if (taken) {
      co_return true;
    }
    if (closed_ || failure_ != h2_failure::none || cancelled_) {
      send_view_ = {};
      // A complete answer before the whole body went (the upstream needed no
      // more of it) is not a send failure.
      co_return remote_end_&& failure_ == h2_failure::none && !cancelled_;
    }
    co_await wait();
  }
}

net::awaitable<h2_failure> h2_stream::wait_head() {
  for (;;) {
    if (head_done_) {
      co_return h2_failure::none;
    }
    if (cancelled_) {
      co_return h2_failure::cancelled;
    }
    if (failure_ != h2_failure::none) {
      co_return failure_;
    }
    if (closed_) {
      co_return h2_failure::reset;  // closed without a final head
    }
    co_await wait();
  }
}

net::awaitable<h2_piece> h2_stream::read_body() {
  for (;;) {
    if (!inbox_.empty()) {
      outbox_.clear();
      outbox_.swap(inbox_);
      // Taken by the reader: now the peer may send as much again.
      if (!closed_) {
        nghttp2_session_consume(conn_->session_, id_, outbox_.size());
      } else {
        nghttp2_session_consume_connection(conn_->session_, outbox_.size());
      }
      conn_->kick();
      co_return h2_piece{outbox_, remote_end_ && failure_ == h2_failure::none, false};
    }
    if (remote_end_ && failure_ == h2_failure::none) {
      co_return h2_piece{{}, true, false};
    }
    if (cancelled_ || failure_ != h2_failure::none || closed_) {
      co_return h2_piece{{}, false, true};
    }
    co_await wait();
  }
}

// ---------------------------------------------------------------- h2_connection

h2_connection::h2_connection(net::executor ex, endpoint_state* ep, const h2_settings& s)
    : ex_(ex), endpoint_(ep), settings_(s), wake_(ex), ready_(ex) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &h2_callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &h2_callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &h2_callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &h2_callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &h2_callbacks::on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &h2_callbacks::on_frame_not_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &h2_callbacks::on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, s.initial_peer_streams);
  nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const std::array<nghttp2_settings_entry, 3> iv{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings_.max_header_bytes},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(settings_.connection_window));
}

h2_connection::~h2_connection() {
  nghttp2_session_del(session_);
}

void h2_connection::start(std::unique_ptr<connection> transport) {
  transport_ = std::move(transport);
  state_ = state::open;
  ready_.cancel();
  asio::co_spawn(ex_, reader(shared_from_this()), asio::detached);
  asio::co_spawn(ex_, writer(shared_from_this()), asio::detached);
}

void h2_connection::connect_failed(connect_failure why) {
  state_ = state::closed;
  connect_failure_ = why;
  leave_endpoint();
  ready_.cancel();
  for (h2_stream* s : streams_) {
    s->fail(h2_failure::refused);
  }
}

net::awaitable<bool> h2_connection::wait_ready() {
  auto self = shared_from_this();
  while (state_ == state::connecting) {
    ready_.expires_at(net::steady_timer::time_point::max());
    co_await ready_.async_wait(use_nothrow);
  }
  co_return state_ == state::open;
}

std::uint32_t h2_connection::stream_limit() const {
  const std::uint32_t peer =
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return std::min(peer, settings_.max_streams);
}

bool h2_connection::has_room() const {
  return state_ != state::closed && !draining() && streams_.size() < stream_limit() &&
         nghttp2_session_check_request_allowed(session_) != 0;
}

void h2_connection::detach(h2_stream* s) {
  const auto it = std::find(streams_.begin(), streams_.end(), s);
  if (it != streams_.end()) {
    *it = streams_.back();
    streams_.pop_back();
  }
}

void h2_connection::leave_endpoint() {
  if (endpoint_ == nullptr) {
    return;
  }
  auto& list = endpoint_->h2;
  const auto it =
      std::find_if(list.begin(), list.end(), [this](const auto& c) { return c.get() == this; });
  if (it != list.end()) {
    list.erase(it);  // callers hold a reference (self) while this runs
  }
}

void h2_connection::lost() {
  if (state_ == state::closed) {
    return;
  }
  state_ = state::closed;
  leave_endpoint();
  if (transport_) {
    transport_->stream.close();
  }
  kick();
  // Waking only posts completions: streams_ does not change during the loop.
  for (h2_stream* s : streams_) {
    if (!s->remote_end_) {
      const bool unprocessed = !s->headers_sent_ || (goaway_received_ && s->id_ > goaway_last_id_);
      s->fail(unprocessed ? h2_failure::refused : h2_failure::connection_lost);
    }
  }
}

void h2_connection::close() {
  auto self = shared_from_this();
  lost();
}

void h2_connection::abandon() {
  endpoint_ = nullptr;
  if (transport_) {
    transport_->breaker = nullptr;
    transport_->endpoint = nullptr;
  }
  if (state_ != state::closed) {
    state_ = state::closed;
    if (transport_) {
      transport_->stream.close();
    }
    kick();
    for (h2_stream* s : streams_) {
      s->fail(h2_failure::connection_lost);
    }
  }
}

net::awaitable<void> h2_connection::reader(std::shared_ptr<h2_connection> self) {
  (void)self;  // held by the frame: the connection lives while it reads
  std::array<std::uint8_t, read_chunk> buf;
  while (state_ == state::open) {
    const auto [ec, n] = co_await transport_->stream.read_some(asio::buffer(buf));
    if (state_ != state::open) {
      break;
    }
    if (ec || n == 0) {
      lost();
      break;
    }
    if (nghttp2_session_mem_recv(session_, buf.data(), n) < 0) {
      lost();
      break;
    }
    kick();  // SETTINGS / PING acks, WINDOW_UPDATEs, resumed data
  }
}

net::awaitable<void> h2_connection::writer(std::shared_ptr<h2_connection> self) {
  (void)self;  // held by the frame: the connection lives while it writes
  std::string out;
  while (state_ == state::open) {
    out.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        lost();
        co_return;
      }
      if (n == 0) {
        break;
      }
      out.append(view(data, static_cast<std::size_t>(n)));
      if (out.size() >= max_write_batch) {
        break;
      }
    }
    if (!out.empty()) {
      const auto [ec, written] = co_await transport_->stream.write(asio::buffer(out));
      (void)written;
      if (ec) {
        lost();
        co_return;
      }
      continue;
    }
    if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
      // GOAWAY exchanged and every stream done.
      lost();
      co_return;
    }
    const bool idle = streams_.empty();
    if (idle) {
      wake_.expires_after(settings_.idle_timeout);
    } else {
      wake_.expires_at(net::steady_timer::time_point::max());
    }
    const auto [ec] = co_await wake_.async_wait(use_nothrow);
    if (!ec && idle && streams_.empty() && state_ == state::open && !goaway_sent_) {
      // Idle past the timeout: say goodbye, then close once it is sent.
      goaway_sent_ = true;
      leave_endpoint();
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
    }
  }
}

// ---------------------------------------------------------------- acquire

net::awaitable<h2_acquire_result> acquire_h2(pool& p, endpoint_state& ep, duration connect_timeout,
                                             circuit_breaker* breaker, const h2_settings& s) {
  for (std::size_t i = 0; i < ep.h2.size(); ++i) {
    std::shared_ptr<h2_connection> c = ep.h2[i];
    if (!c->has_room()) {
      continue;
    }
    auto stream = std::make_unique<h2_stream>(c);
    if (c->connecting() && !co_await c->wait_ready()) {
      co_return h2_acquire_result{nullptr, c->connect_failure_of(), breaker_kind::none, false};
    }
    co_return h2_acquire_result{std::move(stream), connect_failure::none, breaker_kind::none, true};
  }
  h2_settings with_peer = s;
  for (const auto& sibling : ep.h2) {
    if (!sibling->connecting()) {
      with_peer.initial_peer_streams = sibling->stream_limit();
      break;
    }
  }
  const auto ex = co_await asio::this_coro::executor;
  auto c = std::make_shared<h2_connection>(ex, &ep, with_peer);
  ep.h2.push_back(c);
  // Counted before the connect, so that concurrent acquirers join this one.
  auto stream = std::make_unique<h2_stream>(c);
  auto made = co_await p.connect(ep, connect_timeout, breaker);
  if (!made.conn) {
    c->connect_failed(made.overflow != breaker_kind::none ? connect_failure::other : made.failure);
    co_return h2_acquire_result{nullptr, made.failure, made.overflow, false};
  }
  c->start(std::move(made.conn));
  co_return h2_acquire_result{std::move(stream), connect_failure::none, breaker_kind::none, false};
}

}  // namespace cohort::upstream
