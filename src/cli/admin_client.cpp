#include "cli/admin_client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "common/units.hpp"
#include "http/chunked.hpp"
#include "http/parser.hpp"

namespace cohort::cli {

namespace {

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

admin_reply failed(std::string why) {
  admin_reply r;
  r.failure = std::move(why);
  return r;
}

}  // namespace

admin_reply call_admin(const admin_target& target, const std::string& method,
                       const std::string& path, const std::string& body) {
  std::string_view url = target.url;
  if (!url.starts_with("http://")) {
    return failed("--admin must be an http:// URL, got '" + target.url + "'");
  }
  url.remove_prefix(7);
  const auto slash = url.find('/');
  const std::string authority(url.substr(0, slash));
  const std::string base_path(slash == std::string_view::npos ? "" : url.substr(slash));
  auto hp = parse_host_port(authority);
  if (!hp) {
    return failed("--admin needs host:port, got '" + authority + "'");
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(hp->host.c_str(), std::to_string(hp->port).c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return failed("cannot resolve " + hp->host);
  }
  fd_guard sock{::socket(found->ai_family, found->ai_socktype, found->ai_protocol)};
  timeval tv{10, 0};
  ::setsockopt(sock.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int rc = ::connect(sock.fd, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  if (rc != 0) {
    return failed("cannot reach the admin API at " + target.url + ": " + std::strerror(errno));
  }

  std::string req = method + " " + base_path + path + " HTTP/1.1\r\nHost: " + authority +
                    "\r\nConnection: close\r\nContent-Type: application/json\r\n";
  if (!target.token.empty()) {
    req += "Authorization: Bearer " + target.token + "\r\n";
  }
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (std::size_t sent = 0; sent < req.size();) {
    const ssize_t n = ::send(sock.fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return failed("sending to the admin API failed: " + std::string(std::strerror(errno)));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n < 0) {
      return failed("reading from the admin API failed: " + std::string(std::strerror(errno)));
    }
    if (n == 0) {
      break;
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
  http::response_head head;
  const auto pr = http::parse_response_head(in, {65536, 200}, method == "HEAD", head);
  if (pr.status != http::parse_status::complete) {
    return failed("the admin API sent an unreadable reply");
  }
  admin_reply reply;
  reply.reached = true;
  reply.status = head.status;
  const std::string_view rest = std::string_view(in).substr(pr.consumed);
  if (head.framing == http::body_framing::chunked) {
    http::chunked_decoder decoder;
    std::string_view left = rest;
    for (;;) {
      const auto step = decoder.decode(left);
      reply.body.append(step.data);
      left.remove_prefix(step.consumed);
      if (step.done || step.error || step.need_more) {
        break;
      }
    }
  } else if (head.framing == http::body_framing::content_length) {
    reply.body.assign(rest.substr(0, head.content_length));
  } else {
    reply.body.assign(rest);
  }
  return reply;
}

}  // namespace cohort::cli
