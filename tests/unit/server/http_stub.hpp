#pragma once
// A tiny HTTP/1.1 server on 127.0.0.1 (port 0) for the controller's webhooks
// and Prometheus queries: it counts what it receives and answers each path as
// told, or holds the request unanswered until the test releases it (a
// Prometheus that hangs). It runs on the test's io_context, so it makes
// progress only while the test runs that context.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/asio.hpp"

namespace cohort::testing {

class http_stub {
 public:
  struct request {
    std::string method;
    std::string path;  // the target without its query
    std::string target;
    std::string body;
  };
  struct answer {
    unsigned status = 200;
    std::string body;
    bool hold = false;   // keep the request unanswered until release()
    bool close = false;  // close the connection without an answer

    static answer with(unsigned status, std::string body) {
      answer a;
      a.status = status;
      a.body = std::move(body);
      return a;
    }
    static answer held() {
      answer a;
      a.hold = true;
      return a;
    }
    static answer closed() {
      answer a;
      a.close = true;
      return a;
    }
  };

  explicit http_stub(net::asio::io_context& ctx);
  ~http_stub();
  http_stub(const http_stub&) = delete;
  http_stub& operator=(const http_stub&) = delete;

  // "http://127.0.0.1:PORT" + path
  std::string url(std::string_view path) const;
  // How requests to `path` are answered from now on (default: 200, empty body).
  void on(const std::string& path, answer a);
  // Answers the requests held at `path` with `a` (and later ones as on() says).
  void release(const std::string& path, const answer& a);

  std::size_t count(std::string_view path) const;  // requests received at path
  std::size_t held(std::string_view path) const;   // received and not answered yet
  // Answered, and the client has read the answer and closed the connection:
  // the caller's code after its request has run.
  std::size_t answered(std::string_view path) const;
  std::vector<request> received(std::string_view path) const;

 private:
  struct held_request;
  net::awaitable<void> accept_loop();
  net::awaitable<void> serve(net::tcp_socket socket);
  void answer_on(std::shared_ptr<net::tcp_socket> socket, const answer& a, std::string path);

  net::asio::io_context& ctx_;
  net::tcp_acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::map<std::string, answer, std::less<>> answers_;
  std::vector<request> requests_;
  std::vector<std::unique_ptr<held_request>> held_;
  std::map<std::string, std::size_t, std::less<>> answered_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace cohort::testing
