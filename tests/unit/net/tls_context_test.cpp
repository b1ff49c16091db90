// TLS contexts from configuration: errors as values at the tls: block, SNI
// and ALPN selection, and real handshakes between a server and a client
// context over an in-memory BIO pair (no sockets). Certificates are made by
// the openssl CLI in a temporary directory.

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "net/tls_context.hpp"

namespace cohort::net {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string_view> served_h1{"http/1.1"};
const std::vector<std::string_view> served_both{"h2", "http/1.1"};

class TlsContext : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::temp_directory_path() / ("cohort-tls-unit-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
        "-out ca.pem -days 2 -subj /CN=ca -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign");
    leaf("server", "localhost", "IP:127.0.0.1,DNS:localhost");
    leaf("api", "api.example.test", "DNS:api.example.test,DNS:*.api.example.test");
    leaf("nosan", "nosan.example.test", "");
    std::ofstream(*dir_ / "garbage.pem") << "not a certificate\n";
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static void run(const std::string& cmd) {
    const std::string full = "cd '" + dir_->string() + "' && " + cmd + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(full.c_str()), 0) << cmd;
  }
  static void leaf(const std::string& name, const std::string& cn, const std::string& san) {
    std::ofstream ext(*dir_ / (name + ".ext"));
    ext << "basicConstraints=CA:FALSE\n";
    if (!san.empty()) {
      ext << "subjectAltName=" << san << "\n";
    }
    ext.close();
    run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
        ".key -out " + name + ".csr -subj /CN=" + cn);
    run("openssl x509 -req -in " + name + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " +
        name + ".pem -days 2 -extfile " + name + ".ext");
  }
  static std::string file(const std::string& name) { return (*dir_ / name).string(); }

  static config::tls_config listener(const std::string& cert, const std::string& key) {
    config::tls_config c;
    c.certificate = file(cert);
    c.private_key = file(key);
    c.where = {"t.yaml", 7, 12};
    return c;
  }

  static fs::path* dir_;
};

fs::path* TlsContext::dir_ = nullptr;

// The outcome of one handshake between a server and a client context.
struct handshake {
  bool ok = false;
  std::string peer_cn;  // the certificate the client got
  std::string alpn;     // the protocol selected
  std::string version;  // "TLSv1.3"
};

handshake shake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const char* sni,
                const std::string& alpn_wire, int client_max_version = 0,
                const std::function<bool(SSL*)>& prepare_client = {}) {
  SSL* server = SSL_new(server_ctx);
  SSL* client = SSL_new(client_ctx);
  BIO* server_bio = nullptr;
  BIO* client_bio = nullptr;
  BIO_new_bio_pair(&server_bio, 0, &client_bio, 0);
  SSL_set_bio(server, server_bio, server_bio);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);
  if (sni != nullptr) {
    SSL_set_tlsext_host_name(client, sni);
  }
  if (!alpn_wire.empty()) {
    SSL_set_alpn_protos(client, reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                        static_cast<unsigned>(alpn_wire.size()));
  }
  if (client_max_version != 0) {
    SSL_set_min_proto_version(client, 0);
    SSL_set_max_proto_version(client, client_max_version);
    SSL_set_security_level(client, 0);
  }
  handshake out;
  if (prepare_client && !prepare_client(client)) {
    SSL_free(server);
    SSL_free(client);
    return out;
  }
  bool server_done = false;
  bool client_done = false;
  for (int round = 0; round < 20 && !(server_done && client_done); ++round) {
    const int c = SSL_do_handshake(client);
    client_done = c == 1;
    if (c <= 0 && SSL_get_error(client, c) != SSL_ERROR_WANT_READ) {
      break;
    }
    const int s = SSL_do_handshake(server);
    server_done = s == 1;
    if (s <= 0 && SSL_get_error(server, s) != SSL_ERROR_WANT_READ) {
      break;
    }
  }
  out.ok = server_done && client_done;
  if (out.ok) {
    if (X509* peer = SSL_get1_peer_certificate(client)) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      out.peer_cn = cn;
      X509_free(peer);
    }
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(client, &p, &len);
    out.alpn.assign(reinterpret_cast<const char*>(p), len);
    out.version = SSL_get_version(client);
  }
  SSL_free(server);
  SSL_free(client);
  ERR_clear_error();
  return out;
}

// A client context that trusts the test CA and checks nothing else.
std::shared_ptr<client_tls> trusting_client(const std::string& ca) {
  config::upstream_tls_config c;
  c.ca_file = ca;
  auto made = client_tls::create(c, "service 'api'", {});
  EXPECT_TRUE(made.ok());
  return made.ok() ? *made : nullptr;
}

TEST_F(TlsContext, AlpnOffersConfiguredProtocolsThatAreServed) {
  auto tls = server_tls::create(listener("server.pem", "server.key"), "listener 'p'", served_h1);
  ASSERT_TRUE(tls.ok()) << tls.err().message;
  EXPECT_EQ((*tls)->alpn(), std::vector<std::string>{"http/1.1"});

  auto cfg = listener("server.pem", "server.key");
  cfg.alpn = {"http/1.1", "h2"};
  auto both = server_tls::create(cfg, "listener 'p'", served_both);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ((*both)->alpn(), (std::vector<std::string>{"http/1.1", "h2"}));

  cfg.alpn = {"h2"};
  auto none = server_tls::create(cfg, "listener 'p'", served_h1);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.err().to_string(),
            "t.yaml:7:12: listener 'p' tls: alpn offers none of the protocols this build "
            "serves (http/1.1)");
}

TEST_F(TlsContext, FileProblemsAreErrorsAtTheTlsBlock) {
  auto missing =
      server_tls::create(listener("server.pem", "missing.key"), "listener 'p'", served_h1);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().to_string(), "t.yaml:7:12: listener 'p' tls: cannot read private_key '" +
                                           file("missing.key") + "': No such file or directory");

  auto mismatch = server_tls::create(listener("server.pem", "api.key"), "listener 'p'", served_h1);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(
      mismatch.err().message.find("private_key '" + file("api.key") +
                                  "' does not match certificate '" + file("server.pem") + "'"),
      std::string::npos)
      << mismatch.err().message;

  auto garbage =
      server_tls::create(listener("garbage.pem", "server.key"), "listener 'p'", served_h1);
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.err().message.find("certificate '" + file("garbage.pem") +
                                       "' is not a PEM certificate chain (OpenSSL: "),
            std::string::npos)
      << garbage.err().message;
}

TEST_F(TlsContext, SniCertificatesNeedSubjectAltNames) {
  auto cfg = listener("server.pem", "server.key");
  cfg.certificates.push_back({file("nosan.pem"), file("nosan.key"), {"t.yaml", 9, 14}});
  auto tls = server_tls::create(cfg, "listener 'p'", served_h1);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.err().to_string(), "t.yaml:9:14: listener 'p' tls certificate 1: certificate '" +
                                       file("nosan.pem") +
                                       "' has no subjectAltName DNS or IP names, so SNI can "
                                       "never select it");
}

TEST_F(TlsContext, CertificateForAName) {
  auto cfg = listener("server.pem", "server.key");
  cfg.certificates.push_back({file("api.pem"), file("api.key"), {}});
  auto tls = server_tls::create(cfg, "listener 'p'", served_h1);
  ASSERT_TRUE(tls.ok()) << tls.err().message;
  EXPECT_EQ((*tls)->certificate_for("localhost"), 0u);
  EXPECT_EQ((*tls)->certificate_for("127.0.0.1"), 0u);
  EXPECT_EQ((*tls)->certificate_for("api.example.test"), 1u);
  EXPECT_EQ((*tls)->certificate_for("v2.api.example.test"), 1u);
  EXPECT_EQ((*tls)->certificate_for("a.b.api.example.test"), 0u);  // wildcards span one label
  EXPECT_EQ((*tls)->certificate_for("other.example.test"), 0u);
  EXPECT_EQ((*tls)->certificate_for(""), 0u);
}

TEST_F(TlsContext, HandshakesPickCertificateAndProtocol) {
  auto cfg = listener("server.pem", "server.key");
  cfg.certificates.push_back({file("api.pem"), file("api.key"), {}});
  auto tls = server_tls::create(cfg, "listener 'p'", served_both);
  ASSERT_TRUE(tls.ok()) << tls.err().message;
  auto client = trusting_client(file("ca.pem"));
  SSL_CTX* s = (*tls)->context().native_handle();
  SSL_CTX* c = client->context().native_handle();

  const std::string h2_and_h1("\x02h2\x08http/1.1", 12);
  auto by_name = shake(s, c, "api.example.test", h2_and_h1);
  ASSERT_TRUE(by_name.ok);
  EXPECT_EQ(by_name.peer_cn, "api.example.test");
  EXPECT_EQ(by_name.alpn, "h2");  // the configured order: h2 first
  EXPECT_EQ(by_name.version, "TLSv1.3");

  auto default_cert = shake(s, c, nullptr, std::string("\x08http/1.1", 9));
  ASSERT_TRUE(default_cert.ok);
  EXPECT_EQ(default_cert.peer_cn, "localhost");
  EXPECT_EQ(default_cert.alpn, "http/1.1");

  auto unknown_protocol = shake(s, c, "localhost", std::string("\x06spdy/3", 7));
  ASSERT_TRUE(unknown_protocol.ok);
  EXPECT_EQ(unknown_protocol.alpn, "");  // no ALPN answer: served as HTTP/1.1

  auto tls12 = shake(s, c, nullptr, {}, TLS1_2_VERSION);
  ASSERT_TRUE(tls12.ok);
  EXPECT_EQ(tls12.version, "TLSv1.2");
  EXPECT_FALSE(shake(s, c, nullptr, {}, TLS1_1_VERSION).ok);

  cfg.min_version = config::tls_version::v1_3;
  auto strict = server_tls::create(cfg, "listener 'p'", served_both);
  ASSERT_TRUE(strict.ok());
  EXPECT_FALSE(shake((*strict)->context().native_handle(), c, nullptr, {}, TLS1_2_VERSION).ok);
}

TEST_F(TlsContext, ClientVerifiesTheNameItWasPreparedWith) {
  auto tls = server_tls::create(listener("server.pem", "server.key"), "listener 'p'", served_h1);
  ASSERT_TRUE(tls.ok());
  config::upstream_tls_config cfg;
  cfg.ca_file = file("ca.pem");
  auto client = client_tls::create(cfg, "service 'api'", served_h1);
  ASSERT_TRUE(client.ok()) << client.err().message;

  const auto verify_with = [&](const std::string& host) {
    return shake((*tls)->context().native_handle(), (*client)->context().native_handle(), nullptr,
                 {}, 0, [&](SSL* ssl) { return (*client)->prepare(ssl, host); })
        .ok;
  };
  EXPECT_TRUE(verify_with("127.0.0.1"));
  EXPECT_TRUE(verify_with("localhost"));
  EXPECT_FALSE(verify_with("api.example.test"));
  EXPECT_FALSE(verify_with("10.0.0.1"));

  cfg.ca_file = file("missing-ca.pem");
  auto bad = client_tls::create(cfg, "service 'api'", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().message, "service 'api' tls: cannot read ca_file '" + file("missing-ca.pem") +
                                   "': No such file or directory");
}

TEST_F(TlsContext, BuildReportsEveryBadBlock) {
  config::config cfg;
  cfg.gateway.listeners.push_back({"a", {"127.0.0.1", 0}, listener("server.pem", "api.key"), {}});
  cfg.gateway.listeners.push_back({"b", {"127.0.0.1", 0}, std::nullopt, {}});
  cfg.gateway.listeners.push_back(
      {"c", {"127.0.0.1", 0}, listener("server.pem", "server.key"), {}});
  config::service_config plain;
  plain.name = "plain";
  config::service_config secure;
  secure.name = "secure";
  secure.tls = config::upstream_tls_config{};
  secure.tls->ca_file = file("ca.pem");
  config::service_config broken = secure;
  broken.name = "broken";
  broken.tls->ca_file = file("garbage.pem");
  broken.tls->where = {"t.yaml", 30, 10};
  cfg.services = {plain, secure, broken};

  auto all = build_tls_contexts(cfg, served_h1);
  ASSERT_FALSE(all.ok());
  ASSERT_EQ(all.err().size(), 2u);
  EXPECT_NE(all.err()[0].message.find("listener 'a' tls: private_key"), std::string::npos);
  EXPECT_EQ(all.err()[1].where.line, 30);
  EXPECT_NE(all.err()[1].message.find("service 'broken' tls: ca_file"), std::string::npos);

  cfg.gateway.listeners.erase(cfg.gateway.listeners.begin());
  cfg.services.pop_back();
  auto good = build_tls_contexts(cfg, served_h1);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ((*good)->listener("a"), nullptr);
  EXPECT_EQ((*good)->listener("b"), nullptr);
  EXPECT_NE((*good)->listener("c"), nullptr);
  ASSERT_EQ((*good)->services.size(), 2u);
  EXPECT_EQ((*good)->services[0], nullptr);
  EXPECT_NE((*good)->services[1], nullptr);
}

}  // namespace
}  // namespace cohort::net
