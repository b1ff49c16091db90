#pragma once
// TLS contexts (OpenSSL 3, through Asio) built from the configuration: a
// listener's termination with SNI and ALPN, and a service's client side
// (verification, client certificate, SNI, ALPN offer). They are built on the
// main thread at load and reload, where a bad file becomes a configuration
// error at the tls: block; workers only create streams from them. A
// connection keeps a shared_ptr to the contexts it started with, so a reload
// changes what new handshakes get and leaves existing connections alone.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "common/result.hpp"
#include "config/config.hpp"

namespace cohort::net {

namespace ssl = boost::asio::ssl;

// A listener's TLS: one context per certificate. Handshakes start on the
// default one (the top-level pair); the SNI callback moves a handshake to the
// first certificate whose subjectAltName matches the requested name when the
// default does not.
class server_tls {
 public:
  // `what` names the listener in messages ("listener 'public'"). `served`:
  // the application protocols the gateway serves; ALPN selects among the
  // configured ones that are served, in the configured order.
  static result<std::shared_ptr<server_tls>, config::diagnostic> create(
      const config::tls_config& cfg, const std::string& what,
      std::span<const std::string_view> served);

  server_tls(const server_tls&) = delete;
  server_tls& operator=(const server_tls&) = delete;
  ~server_tls();

  ssl::context& context() { return *contexts_.front(); }
  // The protocols ALPN may select, in preference order.
  const std::vector<std::string>& alpn() const { return alpn_; }
  // The index of the certificate a handshake for `server_name` gets (0: the default).
  std::size_t certificate_for(std::string_view server_name) const;

 private:
  server_tls() = default;
  static int on_server_name(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_len,
                     const unsigned char* in, unsigned int in_len, void* arg);

  std::vector<std::unique_ptr<ssl::context>> contexts_;  // [0]: the default certificate
  std::vector<std::string> alpn_;
};

// A service's client side of TLS towards its endpoints.
class client_tls {
 public:
  // `what` names the service ("service 'api'"); `offered`: the ALPN protocols
  // to offer, in preference order (none: no ALPN extension).
  static result<std::shared_ptr<client_tls>, config::diagnostic> create(
      const config::upstream_tls_config& cfg, const std::string& what,
      std::span<const std::string_view> offered);

  client_tls(const client_tls&) = delete;
  client_tls& operator=(const client_tls&) = delete;

  ssl::context& context() { return *context_; }
  // Sets SNI and the name to verify on a new connection to an endpoint whose
  // configured host is `host` (server_name, when configured, wins). False
  // when OpenSSL refuses the name.
  bool prepare(SSL* ssl, const std::string& host) const;

 private:
  client_tls() = default;

  std::unique_ptr<ssl::context> context_;
  std::string server_name_;
  bool verify_ = true;
};

// The contexts of one configuration, published next to its snapshot.
struct tls_contexts {
  // Listeners with tls:, by name (a connection looks its listener up by name,
  // so a reload may add, change or remove a listener's TLS).
  std::vector<std::pair<std::string, std::shared_ptr<server_tls>>> listeners;
  // By service index in the configuration (= the snapshot's); null: plain TCP.
  std::vector<std::shared_ptr<client_tls>> services;

  std::shared_ptr<server_tls> listener(std::string_view name) const;
};

// Builds every context of cfg; all problems are reported, each at its tls: block.
// Upstream connections offer by ALPN the protocol of their service (h2 or
// http/1.1).
result<std::shared_ptr<const tls_contexts>, std::vector<config::diagnostic>> build_tls_contexts(
    const config::config& cfg, std::span<const std::string_view> served);

// What OpenSSL says about a failed handshake or record on ssl (may be null):
// the error's reason, and for a certificate that did not verify, why
// ("certificate verify failed: self-signed certificate").
std::string describe_tls_failure(SSL* ssl, const boost::system::error_code& ec);

}  // namespace cohort::net
