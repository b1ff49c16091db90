#include "http_stub.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>

namespace cohort::testing {

namespace asio = net::asio;

struct http_stub::held_request {
  std::string path;
  std::shared_ptr<net::tcp_socket> socket;
};

http_stub::http_stub(asio::io_context& ctx) : ctx_(ctx), acceptor_(ctx) {
  const net::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
  acceptor_.open(at.protocol());
  acceptor_.set_option(net::tcp::acceptor::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(ctx_, accept_loop(), asio::detached);
}

http_stub::~http_stub() {
  *alive_ = false;
  net::error_code ignored;
  acceptor_.close(ignored);
  for (auto& h : held_) {
    h->socket->close(ignored);
  }
}

std::string http_stub::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void http_stub::on(const std::string& path, answer a) {
  answers_[path] = std::move(a);
}

void http_stub::release(const std::string& path, const answer& a) {
  for (auto it = held_.begin(); it != held_.end();) {
    if ((*it)->path == path) {
      answer_on((*it)->socket, a, path);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t http_stub::count(std::string_view path) const {
  return received(path).size();
}

std::size_t http_stub::held(std::string_view path) const {
  std::size_t n = 0;
  for (const auto& h : held_) {
    n += h->path == path ? 1 : 0;
  }
  return n;
}

std::vector<http_stub::request> http_stub::received(std::string_view path) const {
  std::vector<request> out;
  for (const auto& r : requests_) {
    if (r.path == path) {
      out.push_back(r);
    }
  }
  return out;
}

net::awaitable<void> http_stub::accept_loop() {
  const auto alive = alive_;
  while (*alive) {
    net::tcp_socket socket(ctx_);
    auto [ec] = co_await acceptor_.async_accept(socket, net::use_nothrow);
    if (ec || !*alive) {
      co_return;
    }
    asio::co_spawn(ctx_, serve(std::move(socket)), asio::detached);
  }
}

net::awaitable<void> http_stub::serve(net::tcp_socket socket) {
  const auto alive = alive_;
  std::string data;
  auto [ec, head_end] = co_await asio::async_read_until(socket, asio::dynamic_buffer(data),
                                                        "\r\n\r\n", net::use_nothrow);
  if (ec || !*alive) {
    co_return;
  }
  request r;
  const std::string head = data.substr(0, head_end);
  const auto first_space = head.find(' ');
  const auto second_space = head.find(' ', first_space + 1);
  r.method = head.substr(0, first_space);
  r.target = head.substr(first_space + 1, second_space - first_space - 1);
  r.path = r.target.substr(0, r.target.find('?'));
  std::size_t length = 0;
  for (std::string_view name : {"Content-Length: ", "content-length: "}) {
    if (const auto at = head.find(name); at != std::string::npos) {
      length = std::stoul(head.substr(at + name.size()));
    }
  }
  r.body = data.substr(head_end);
  if (r.body.size() < length) {
    std::string rest(length - r.body.size(), '\0');
    auto [rec, n] = co_await asio::async_read(socket, asio::buffer(rest), net::use_nothrow);
    if (rec || !*alive) {
      co_return;
    }
    r.body += rest.substr(0, n);
  }
  requests_.push_back(r);
  const auto it = answers_.find(r.path);
  const answer a = it == answers_.end() ? answer{} : it->second;
  auto shared = std::make_shared<net::tcp_socket>(std::move(socket));
  if (a.hold) {
    held_.push_back(std::make_unique<held_request>(held_request{r.path, std::move(shared)}));
    co_return;
  }
  answer_on(std::move(shared), a, r.path);
}

std::size_t http_stub::answered(std::string_view path) const {
  const auto it = answered_.find(path);
  return it == answered_.end() ? 0 : it->second;
}

void http_stub::answer_on(std::shared_ptr<net::tcp_socket> socket, const answer& a,
                          std::string path) {
  if (a.close) {
    net::error_code ignored;
    socket->close(ignored);
    ++answered_[path];
    return;
  }
  std::string text = "HTTP/1.1 " + std::to_string(a.status) +
                     " Stub\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(a.body.size()) + "\r\nConnection: close\r\n\r\n" + a.body;
  // Parameters by value: they live in the coroutine's frame.
  asio::co_spawn(
      ctx_,
      [](http_stub* self, std::shared_ptr<bool> alive, std::shared_ptr<net::tcp_socket> s,
         std::string out, std::string at) -> net::awaitable<void> {
        co_await asio::async_write(*s, asio::buffer(out), net::use_nothrow);
        net::error_code ignored;
        s->shutdown(net::tcp::socket::shutdown_send, ignored);
        // The client closes once it has read the answer (it sends Connection: close).
        char byte = 0;
        co_await s->async_read_some(asio::buffer(&byte, 1), net::use_nothrow);
        if (*alive) {
          ++self->answered_[at];
        }
      }(this, alive_, std::move(socket), std::move(text), std::move(path)),
      asio::detached);
}

}  // namespace cohort::testing
