#include "net/http_client.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "http/chunked.hpp"
#include "http/parser.hpp"
#include "net/listener.hpp"

namespace cohort::net {

namespace {

constexpr std::size_t max_response = 4 * 1024 * 1024;

struct parsed_url {
  host_port address;
  std::string authority;
  std::string target;
};

std::optional<parsed_url> parse_url(std::string_view url) {
  if (!url.starts_with("http://")) {
    return std::nullopt;
  }
  url.remove_prefix(7);
  const auto slash = url.find('/');
  parsed_url out;
  out.authority = std::string(url.substr(0, slash));
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  auto hp = parse_host_port(out.authority);
  if (!hp) {
    hp = host_port{out.authority, 80};
  }
  out.address = *hp;
  return out;
}

awaitable<client_response> exchange(const client_request& request, const parsed_url& url,
                                    tcp_socket& socket) {
  client_response out;
  auto addr = resolve_host(url.address.host);
  if (!addr) {
    out.error = addr.err().message;
    co_return out;
  }
  auto [cec] = co_await socket.async_connect(tcp::endpoint(*addr, url.address.port), use_nothrow);
  if (cec) {
    out.error = "cannot connect to " + url.authority + ": " + cec.message();
    co_return out;
  }
  std::string head = request.method + " " + url.target + " HTTP/1.1\r\nHost: " + url.authority +
                     "\r\nConnection: close\r\nUser-Agent: cohort\r\n";
  for (const auto& [k, v] : request.headers) {
    head += k + ": " + v + "\r\n";
  }
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    head += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  head += "\r\n";
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(request.body)};
  auto [wec, wn] = co_await asio::async_write(socket, bufs, use_nothrow);
  (void)wn;
  if (wec) {
    out.error = "sending to " + url.authority + " failed: " + wec.message();
    co_return out;
  }
  std::string in;
  std::array<char, 16384> buf;
  for (;;) {
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(buf), use_nothrow);
    in.append(buf.data(), n);
    if (rec || in.size() > max_response) {
      break;
    }
  }
  http::response_head rh;
  const auto pr = http::parse_response_head(in, {65536, 200}, request.method == "HEAD", rh);
  if (pr.status != http::parse_status::complete) {
    out.error = "unreadable response from " + url.authority;
    co_return out;
  }
  const std::string_view rest = std::string_view(in).substr(pr.consumed);
  if (rh.framing == http::body_framing::chunked) {
    http::chunked_decoder decoder;
    std::string_view left = rest;
    for (;;) {
      const auto step = decoder.decode(left);
      out.body.append(step.data);
      left.remove_prefix(step.consumed);
      if (step.done || step.error || (step.need_more && step.data.empty())) {
        break;
      }
    }
  } else if (rh.framing == http::body_framing::content_length) {
    out.body.assign(rest.substr(0, rh.content_length));
  } else {
    out.body.assign(rest);
  }
  out.completed = true;
  out.status = rh.status;
  co_return out;
}

}  // namespace

awaitable<client_response> fetch(asio::io_context& ctx, client_request request) {
  using namespace asio::experimental::awaitable_operators;
  const auto url = parse_url(request.url);
  if (!url) {
    co_return client_response{false, "only http:// URLs are supported: " + request.url, 0, {}};
  }
  tcp_socket socket(ctx);
  steady_timer timer(ctx, request.timeout);
  auto result = co_await (exchange(request, *url, socket) || timer.async_wait(use_nothrow));
  if (result.index() == 1) {
    co_return client_response{
        false,
        "no answer from " + url->authority + " within " + format_duration(request.timeout),
        0,
        {}};
  }
  co_return std::get<0>(std::move(result));
}

std::string url_encode(std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

}  // namespace cohort::net
