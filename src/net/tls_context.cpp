#include "net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <array>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

namespace cohort::net {

namespace {

// Drains OpenSSL's error queue; the first entry is the most specific reason.
std::string openssl_reason() {
  std::string reason;
  while (const unsigned long code = ERR_get_error()) {
    if (reason.empty()) {
      if (const char* r = ERR_reason_error_string(code)) {
        reason = r;
      } else {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        reason = buf;
      }
    }
  }
  return reason.empty() ? std::string("unknown OpenSSL error") : reason;
}

// A file OpenSSL is about to read: a readable path, or why not (errno's text,
// which says more than OpenSSL's "system lib").
std::string unreadable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return std::strerror(errno);
  }
  std::fclose(f);
  return {};
}

bool is_ip_literal(const std::string& s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(s, ec);
  return !ec;
}

// Loads a certificate chain and its key into ctx and checks that they fit;
// an error message (without the owner) on failure.
std::string load_pair(SSL_CTX* ctx, const std::string& certificate,
                      const std::string& private_key) {
  if (auto why = unreadable(certificate); !why.empty()) {
    return "cannot read certificate '" + certificate + "': " + why;
  }
  if (auto why = unreadable(private_key); !why.empty()) {
    return "cannot read private_key '" + private_key + "': " + why;
  }
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate.c_str()) != 1) {
    return "certificate '" + certificate +
           "' is not a PEM certificate chain (OpenSSL: " + openssl_reason() + ")";
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, private_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const auto reason = openssl_reason();
    if (reason.find("mismatch") != std::string::npos) {
      return "private_key '" + private_key + "' does not match certificate '" + certificate +
             "' (OpenSSL: " + reason + ")";
    }
    return "private_key '" + private_key + "' is not a PEM private key (OpenSSL: " + reason + ")";
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return "private_key '" + private_key + "' does not match certificate '" + certificate +
           "' (OpenSSL: " + openssl_reason() + ")";
  }
  return {};
}

// The subjectAltName DNS and IP entries of a certificate.
std::size_t san_names(X509* cert) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    return 0;
  }
  std::size_t n = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const int type = sk_GENERAL_NAME_value(names, i)->type;
    n += (type == GEN_DNS || type == GEN_IPADD) ? 1 : 0;
  }
  GENERAL_NAMES_free(names);
  return n;
}

bool matches(X509* cert, std::string_view name) {
  if (cert == nullptr || name.empty()) {
    return false;
  }
  const std::string n(name);
  if (is_ip_literal(n)) {
    return X509_check_ip_asc(cert, n.c_str(), 0) == 1;
  }
  return X509_check_host(cert, n.data(), n.size(), X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr) ==
         1;
}

// ALPN's wire form: each protocol prefixed by its length.
std::string alpn_wire(std::span<const std::string_view> protocols) {
  std::string wire;
  for (const auto p : protocols) {
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

void common_options(SSL_CTX* ctx, config::tls_version min_version) {
  SSL_CTX_set_min_proto_version(
      ctx, min_version == config::tls_version::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  // Renegotiation would run the handshake callbacks again on a live
  // connection, long after a reload may have replaced what they read.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
}

}  // namespace

// ---------------------------------------------------------------- server

server_tls::~server_tls() = default;

result<std::shared_ptr<server_tls>, config::diagnostic> server_tls::create(
    const config::tls_config& cfg, const std::string& what,
    std::span<const std::string_view> served) {
  std::shared_ptr<server_tls> out(new server_tls());
  for (const auto& p : cfg.alpn) {
    if (std::find(served.begin(), served.end(), p) != served.end()) {
      out->alpn_.push_back(p);
    }
  }
  if (out->alpn_.empty()) {
    std::string list;
    for (const auto p : served) {
      list += (list.empty() ? "" : ", ") + std::string(p);
    }
    return config::diagnostic{
        cfg.where,
        what + " tls: alpn offers none of the protocols this build serves (" + list + ")"};
  }
  std::vector<config::tls_certificate_config> pairs;
  pairs.push_back({cfg.certificate, cfg.private_key, cfg.where});
  pairs.insert(pairs.end(), cfg.certificates.begin(), cfg.certificates.end());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& pair = pairs[i];
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    common_options(native, cfg.min_version);
    const std::string owner =
        i == 0 ? what + " tls: " : what + " tls certificate " + std::to_string(i) + ": ";
    if (auto problem = load_pair(native, pair.certificate, pair.private_key); !problem.empty()) {
      return config::diagnostic{pair.where, owner + problem};
    }
    if (i > 0 && san_names(SSL_CTX_get0_certificate(native)) == 0) {
      return config::diagnostic{pair.where, owner + "certificate '" + pair.certificate +
                                                "' has no subjectAltName DNS or IP names, so "
                                                "SNI can never select it"};
    }
    // Every context gets the callbacks: after SNI switches a handshake to
    // another context, OpenSSL reads the ALPN callback from that one.
    SSL_CTX_set_alpn_select_cb(native, &server_tls::on_alpn, out.get());
    if (i == 0) {
      SSL_CTX_set_tlsext_servername_callback(native, &server_tls::on_server_name);
      SSL_CTX_set_tlsext_servername_arg(native, out.get());
    }
    out->contexts_.push_back(std::move(ctx));
  }
  return out;
}

std::size_t server_tls::certificate_for(std::string_view server_name) const {
  if (contexts_.size() == 1 ||
      matches(SSL_CTX_get0_certificate(contexts_.front()->native_handle()), server_name)) {
    return 0;
  }
  for (std::size_t i = 1; i < contexts_.size(); ++i) {
    if (matches(SSL_CTX_get0_certificate(contexts_[i]->native_handle()), server_name)) {
      return i;
    }
  }
  return 0;
}

int server_tls::on_server_name(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const server_tls*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) {
    return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
  }
  const std::size_t i = self->certificate_for(name);
  if (i != 0) {
    SSL_set_SSL_CTX(ssl, self->contexts_[i]->native_handle());
  }
  return SSL_TLSEXT_ERR_OK;
}

int server_tls::on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_len,
                        const unsigned char* in, unsigned int in_len, void* arg) {
  const auto* self = static_cast<const server_tls*>(arg);
  // Our preference order wins over the client's.
  for (const auto& want : self->alpn_) {
    unsigned int i = 0;
    while (i < in_len) {
      const unsigned int len = in[i];
      if (i + 1 + len > in_len) {
        break;  // malformed list: stop reading it
      }
      if (len == want.size() && std::memcmp(in + i + 1, want.data(), len) == 0) {
        *out = in + i + 1;
        *out_len = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  // No protocol in common: go on without ALPN (served as HTTP/1.1), as
  // clients that offer only unknown protocols still expect an answer.
  return SSL_TLSEXT_ERR_NOACK;
}

// ---------------------------------------------------------------- client

result<std::shared_ptr<client_tls>, config::diagnostic> client_tls::create(
    const config::upstream_tls_config& cfg, const std::string& what,
    std::span<const std::string_view> offered) {
  std::shared_ptr<client_tls> out(new client_tls());
  out->context_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  out->server_name_ = cfg.server_name;
  out->verify_ = cfg.verify;
  SSL_CTX* native = out->context_->native_handle();
  common_options(native, config::tls_version::v1_2);
  const std::string owner = what + " tls: ";
  ERR_clear_error();
  if (cfg.verify) {
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    if (!cfg.ca_file.empty()) {
      if (auto why = unreadable(cfg.ca_file); !why.empty()) {
        return config::diagnostic{cfg.where,
                                  owner + "cannot read ca_file '" + cfg.ca_file + "': " + why};
      }
      if (SSL_CTX_load_verify_locations(native, cfg.ca_file.c_str(), nullptr) != 1) {
        return config::diagnostic{
            cfg.where, owner + "ca_file '" + cfg.ca_file +
                           "' holds no PEM certificate (OpenSSL: " + openssl_reason() + ")"};
      }
    } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
      return config::diagnostic{
          cfg.where, owner + "cannot load the system CA store (OpenSSL: " + openssl_reason() + ")"};
    }
  } else {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.certificate.empty()) {
    if (auto problem = load_pair(native, cfg.certificate, cfg.private_key); !problem.empty()) {
      return config::diagnostic{cfg.where, owner + problem};
    }
  }
  if (!offered.empty()) {
    const auto wire = alpn_wire(offered);
    // Returns 0 on success, unlike most of OpenSSL.
    if (SSL_CTX_set_alpn_protos(native, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())) != 0) {
      return config::diagnostic{cfg.where,
                                owner + "cannot set ALPN (OpenSSL: " + openssl_reason() + ")"};
    }
  }
  return out;
}

bool client_tls::prepare(SSL* ssl, const std::string& host) const {
  const std::string& name = server_name_.empty() ? host : server_name_;
  const bool ip = is_ip_literal(name);
  // SNI carries host names only (RFC 6066 3).
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    return false;
  }
  if (!verify_) {
    return true;
  }
  if (ip) {
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
  }
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, name.c_str()) == 1;
}

// ---------------------------------------------------------------- the set

std::shared_ptr<server_tls> tls_contexts::listener(std::string_view name) const {
  for (const auto& [n, tls] : listeners) {
    if (n == name) {
      return tls;
    }
  }
  return nullptr;
}

result<std::shared_ptr<const tls_contexts>, std::vector<config::diagnostic>> build_tls_contexts(
    const config::config& cfg, std::span<const std::string_view> served) {
  // An upstream is offered the one protocol its service speaks.
  static constexpr std::array<std::string_view, 1> alpn_http1{"http/1.1"};
  static constexpr std::array<std::string_view, 1> alpn_h2{"h2"};
  auto out = std::make_shared<tls_contexts>();
  std::vector<config::diagnostic> errors;
  for (const auto& l : cfg.gateway.listeners) {
    if (!l.tls) {
      continue;
    }
    auto tls = server_tls::create(*l.tls, "listener '" + l.name + "'", served);
    if (!tls) {
      errors.push_back(std::move(tls.err()));
      continue;
    }
    out->listeners.emplace_back(l.name, std::move(*tls));
  }
  for (const auto& s : cfg.services) {
    if (!s.tls) {
      out->services.push_back(nullptr);
      continue;
    }
    const std::span<const std::string_view> offered =
        s.protocol == config::upstream_protocol::http2 ? std::span(alpn_h2) : std::span(alpn_http1);
    auto tls = client_tls::create(*s.tls, "service '" + s.name + "'", offered);
    if (!tls) {
      errors.push_back(std::move(tls.err()));
      out->services.push_back(nullptr);
      continue;
    }
    out->services.push_back(std::move(*tls));
  }
  if (!errors.empty()) {
    return errors;
  }
  return std::shared_ptr<const tls_contexts>(std::move(out));
}

std::string describe_tls_failure(SSL* ssl, const boost::system::error_code& ec) {
  // OpenSSL's reason alone: Asio's message appends the library ("(SSL routines)").
  const char* reason = ec.category() == boost::asio::error::get_ssl_category()
                           ? ERR_reason_error_string(static_cast<unsigned long>(ec.value()))
                           : nullptr;
  std::string text = reason != nullptr ? std::string(reason) : ec.message();
  if (ssl != nullptr) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      text += ": ";
      text += X509_verify_cert_error_string(verify);
    }
  }
  return text;
}

}  // namespace cohort::net
