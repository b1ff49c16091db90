// The tls: blocks: a listener's (termination) and a service's (towards its
// endpoints). Only the shape is checked here; whether the files exist and
// fit together is checked where the TLS contexts are built (net/tls_context).

#include <algorithm>
#include <cctype>

#include "config/parsers.hpp"

namespace cohort::config::detail {

namespace {

// The protocols a listener may offer by ALPN (their IANA ids).
const std::vector<std::string> alpn_protocols{"h2", "http/1.1"};

// Reads a required file path; reports an empty one.
void read_path(object& o, std::string_view key, std::string& out) {
  if (const auto path = o.text(key)) {
    if (path->empty()) {
      o.error(*o.find(key), std::string(key) + " must name a file");
    }
    out = *path;
  }
}

void parse_certificate(context& cx, const YAML::Node& node, std::size_t index,
                       const std::string& what, std::vector<tls_certificate_config>& out) {
  object o(cx, node, what + " certificate " + std::to_string(index + 1),
           {"certificate", "private_key"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  tls_certificate_config c;
  c.where = o.where();
  o.require("certificate");
  o.require("private_key");
  read_path(o, "certificate", c.certificate);
  read_path(o, "private_key", c.private_key);
  out.push_back(std::move(c));
}

void parse_alpn(context& cx, object& o, const field& f, std::vector<std::string>& out) {
  const auto items = list_items(cx, o.what(), f);
  if (items.empty()) {
    if (f.value.IsNull() || f.value.IsSequence()) {
      o.error(f, "alpn must list at least one protocol (h2, http/1.1)");
    }
    return;
  }
  std::vector<std::string> protocols;
  for (const auto& item : items) {
    const std::string p = item.IsScalar() ? item.Scalar() : std::string();
    if (std::find(alpn_protocols.begin(), alpn_protocols.end(), p) == alpn_protocols.end()) {
      cx.error(item, o.what() + ": alpn protocol '" + p + "' is not one of h2, http/1.1" +
                         did_you_mean(p, alpn_protocols));
      continue;
    }
    if (std::find(protocols.begin(), protocols.end(), p) != protocols.end()) {
      cx.error(item, o.what() + ": alpn protocol '" + p + "' is listed twice");
      continue;
    }
    protocols.push_back(p);
  }
  if (!protocols.empty()) {
    out = std::move(protocols);
  }
}

void parse_min_version(object& o, tls_version& out) {
  const auto v = o.text("min_version");
  if (!v) {
    return;
  }
  if (*v == "1.2") {
    out = tls_version::v1_2;
  } else if (*v == "1.3") {
    out = tls_version::v1_3;
  } else {
    o.error(*o.find("min_version"), "min_version '" + *v +
                                        "' is not allowed: only \"1.2\" and \"1.3\" are "
                                        "(older TLS versions are never offered)");
  }
}

// A DNS name (labels of letters, digits and '-') or an IP address literal.
bool is_server_name(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  if (s.find(':') != std::string_view::npos) {
    // IPv6 literal: hex digits, ':' and '.' (a v4 tail).
    return std::all_of(s.begin(), s.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
    });
  }
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t dot = std::min(s.find('.', start), s.size());
    const auto label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (const char c : label) {
      if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-') {
        return false;
      }
    }
    start = dot + 1;
  }
  return true;
}

}  // namespace

void parse_listener_tls(context& cx, const field& f, const std::string& what, tls_config& out) {
  object o(cx, f, what + " tls",
           {"certificate", "private_key", "certificates", "alpn", "min_version"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  out.where = o.where();
  o.require("certificate");
  o.require("private_key");
  read_path(o, "certificate", out.certificate);
  read_path(o, "private_key", out.private_key);
  if (const field* certs = o.find("certificates")) {
    const auto items = list_items(cx, o.what(), *certs);
    for (std::size_t i = 0; i < items.size(); ++i) {
      parse_certificate(cx, items[i], i, o.what(), out.certificates);
    }
  }
  if (const field* alpn = o.find("alpn")) {
    parse_alpn(cx, o, *alpn, out.alpn);
  }
  parse_min_version(o, out.min_version);
}

void parse_upstream_tls(context& cx, const field& f, const std::string& what,
                        upstream_tls_config& out) {
  object o(cx, f, what + " tls",
           {"ca_file", "certificate", "private_key", "server_name", "verify"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  out.where = o.where();
  for (const auto& [key, target] :
       {std::pair{"ca_file", &out.ca_file}, std::pair{"certificate", &out.certificate},
        std::pair{"private_key", &out.private_key}}) {
    read_path(o, key, *target);
  }
  const field* cert = o.find("certificate");
  const field* key = o.find("private_key");
  if (cert != nullptr && key == nullptr) {
    o.error(*cert, "certificate (a client certificate) needs private_key too");
  } else if (key != nullptr && cert == nullptr) {
    o.error(*key, "private_key needs certificate too");
  }
  if (const auto name = o.text("server_name")) {
    if (!is_server_name(*name)) {
      o.error(*o.find("server_name"),
              "server_name '" + *name + "' is not a DNS name or an IP address");
    } else {
      out.server_name = *name;
    }
  }
  if (const auto verify = o.boolean("verify")) {
    out.verify = *verify;
  }
  if (!out.verify && o.find("ca_file") != nullptr) {
    o.error(*o.find("ca_file"), "ca_file has no use with verify: false");
  }
}

}  // namespace cohort::config::detail
