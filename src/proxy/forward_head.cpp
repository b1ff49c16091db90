#include "proxy/forward_head.hpp"

#include <array>
#include <charconv>
#include <cstring>

namespace cohort::proxy {

using http::field_id;
using http::id_of;
using http::iequals;

namespace {

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// One size check and two copies per field instead of four appends: heads are
// rewritten on every request.
void append_field(std::string& out, std::string_view name, std::string_view value) {
  const std::size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

// Calls fn for each comma-separated token of a list field value, trimmed.
template <class Fn>
void for_each_token(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view token = trim_ows(list.substr(0, comma));
    if (!token.empty()) {
      fn(token);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

bool nominated_by_connection(const std::vector<http::header>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (id_of(h) != field_id::connection) {
      continue;
    }
    bool found = false;
    for_each_token(h.value, [&](std::string_view token) {
      if (iequals(token, name)) {
        found = true;
      }
    });
    if (found) {
      return true;
    }
  }
  return false;
}

bool nominates_end_to_end_field(const std::vector<http::header>& headers) {
  bool found = false;
  for (const auto& h : headers) {
    if (id_of(h) == field_id::connection) {
      for_each_token(h.value, [&](std::string_view token) {
        if (!is_hop_by_hop(token)) {
          found = true;
        }
      });
    }
  }
  return found;
}

bool is_websocket_upgrade(const http::request_head& req) {
  if (!req.upgrade || req.method != "GET") {
    return false;
  }
  bool websocket = false;
  for (const auto& h : req.headers) {
    if (id_of(h) == field_id::upgrade) {
      for_each_token(h.value, [&](std::string_view token) {
        // A protocol may carry a version ("websocket/13" is not registered, but tolerated).
        const auto name = token.substr(0, token.find('/'));
        websocket = websocket || iequals(name, "websocket");
      });
    }
  }
  return websocket;
}

bool is_hop_by_hop(field_id id) {
  switch (id) {
    case field_id::te:
    case field_id::expect:
    case field_id::upgrade:
    case field_id::connection:
    case field_id::keep_alive:
    case field_id::content_length:
    case field_id::proxy_connection:
    case field_id::transfer_encoding:
    case field_id::proxy_authenticate:
    case field_id::proxy_authorization:
      return true;
    default:
      return false;
  }
}

bool is_hop_by_hop(std::string_view name) {
  return is_hop_by_hop(http::identify_field(name));
}

void append_upstream_request_head(std::string& out, const http::request_head& req,
                                  const upstream_request_options& opts) {
  const bool check_nominated = nominates_end_to_end_field(req.headers);
  out.append(req.method);
  out.push_back(' ');
  // Absolute-form targets become origin-form for the upstream.
  if (!req.target.empty() && req.target.front() == '/') {
    out.append(req.target);
  } else {
    out.append(req.path.empty() ? std::string_view("/") : req.path);
    if (!req.query.empty()) {
      out.push_back('?');
      out.append(req.query);
    }
  }
  out.append(" HTTP/1.1\r\n");

  bool host_seen = false;
  std::string_view forwarded_for_first;
  bool forwarded_for_many = false;
  for (const auto& h : req.headers) {
    const field_id id = id_of(h);
    const bool kept_upgrade = opts.upgrade && id == field_id::upgrade;
    if (!kept_upgrade &&
        (is_hop_by_hop(id) || (check_nominated && nominated_by_connection(req.headers, h.name)))) {
      continue;
    }
    switch (id) {
      case field_id::x_forwarded_for:
        if (!opts.x_forwarded) {
          break;
        }
        // Merged into one field below, the client's address last.
        if (forwarded_for_first.empty()) {
          forwarded_for_first = h.value;
        } else {
          forwarded_for_many = true;
        }
        continue;
      case field_id::x_forwarded_proto:
        if (!opts.x_forwarded) {
          break;
        }
        continue;
      case field_id::traceparent:
        if (!opts.traceparent.empty()) {
          continue;
        }
        break;
      case field_id::host:
        host_seen = true;
        break;
      default:
        break;
    }
    append_field(out, h.name, h.value);
  }
  if (!host_seen) {
    append_field(out, "Host", req.host.empty() ? opts.fallback_host : req.host);
  }
  if (opts.x_forwarded) {
    out.append("X-Forwarded-For: ");
    if (!forwarded_for_first.empty()) {
      if (forwarded_for_many) {
        for (const auto& h : req.headers) {
          if (id_of(h) == field_id::x_forwarded_for) {
            out.append(h.value);
            out.append(", ");
          }
        }
      } else {
        out.append(forwarded_for_first);
        out.append(", ");
      }
    }
    out.append(opts.client_ip);
    out.append("\r\n");
    append_field(out, "X-Forwarded-Proto", opts.proto);
  }
  if (opts.via) {
    out.append(req.ver == http::version::http10 ? "Via: 1.0 cohort\r\n" : "Via: 1.1 cohort\r\n");
  }
  if (!opts.traceparent.empty()) {
    append_field(out, "traceparent", opts.traceparent);
  }
  if (opts.upgrade) {
    out.append("Connection: upgrade\r\n");
  }
  switch (req.framing) {
    case http::body_framing::content_length:
      out.append("Content-Length: ");
      append_number(out, req.content_length);
      out.append("\r\n");
      break;
    case http::body_framing::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case http::body_framing::none:
    case http::body_framing::until_close:
      break;
  }
  out.append("\r\n");
}

namespace {

// Fields as offsets into one string while it grows; views once it is done.
class h2_field_builder {
 public:
  explicit h2_field_builder(std::string& storage) : storage_(storage) { storage_.clear(); }
  void add(std::string_view name, std::string_view value) {
    const auto at = static_cast<std::uint32_t>(storage_.size());
    for (const char c : name) {
      storage_.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c);
    }
    storage_.append(value);
    offsets_.push_back(
        {at, static_cast<std::uint32_t>(name.size()), static_cast<std::uint32_t>(value.size())});
  }
  // Appends to the value of the field added last.
  void extend(std::string_view more) {
    storage_.append(more);
    offsets_.back()[2] += static_cast<std::uint32_t>(more.size());
  }
  void finish(std::vector<http::header>& fields) const {
    fields.clear();
    const std::string_view all = storage_;
    for (const auto& [at, name_len, value_len] : offsets_) {
      fields.push_back({all.substr(at, name_len), all.substr(at + name_len, value_len)});
    }
  }

 private:
  std::string& storage_;
  std::vector<std::array<std::uint32_t, 3>> offsets_;
};

}  // namespace

void upstream_h2_request_fields(const http::request_head& req, const upstream_request_options& opts,
                                std::string_view scheme, std::string& storage,
                                std::vector<http::header>& fields) {
  const bool check_nominated = nominates_end_to_end_field(req.headers);
  h2_field_builder b(storage);
  b.add(":method", req.method);
  b.add(":scheme", scheme);
  b.add(":authority", req.host.empty() ? opts.fallback_host : req.host);
  if (!req.target.empty() && (req.target.front() == '/' || req.target == "*")) {
    b.add(":path", req.target);
  } else {
    b.add(":path", req.path.empty() ? std::string_view("/") : req.path);
    if (!req.query.empty()) {
      b.extend("?");
      b.extend(req.query);
    }
  }
  bool forwarded_for = false;
  for (const auto& h : req.headers) {
    const field_id id = id_of(h);
    if (id == field_id::te) {
      // The one value HTTP/2 allows (RFC 9113 8.2.2); gRPC servers require it.
      bool trailers = false;
      for_each_token(h.value,
                     [&](std::string_view t) { trailers = trailers || iequals(t, "trailers"); });
      if (trailers) {
        b.add("te", "trailers");
      }
      continue;
    }
    if (is_hop_by_hop(id) || id == field_id::host ||
        (check_nominated && nominated_by_connection(req.headers, h.name))) {
      continue;
    }
    if ((opts.x_forwarded && id == field_id::x_forwarded_proto) ||
        (!opts.traceparent.empty() && id == field_id::traceparent)) {
      continue;
    }
    if (opts.x_forwarded && id == field_id::x_forwarded_for) {
      forwarded_for = true;  // merged below, the client's address last
      continue;
    }
    b.add(h.name, h.value);
  }
  if (opts.x_forwarded) {
    b.add("x-forwarded-for", {});
    if (forwarded_for) {
      for (const auto& h : req.headers) {
        if (id_of(h) == field_id::x_forwarded_for) {
          b.extend(h.value);
          b.extend(", ");
        }
      }
    }
    b.extend(opts.client_ip);
    b.add("x-forwarded-proto", opts.proto);
  }
  if (opts.via) {
    b.add("via", req.ver == http::version::http10 ? "1.0 cohort" : "1.1 cohort");
  }
  if (!opts.traceparent.empty()) {
    b.add("traceparent", opts.traceparent);
  }
  if (req.framing == http::body_framing::content_length) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, req.content_length);
    (void)ec;
    b.add("content-length", std::string_view(buf, static_cast<std::size_t>(end - buf)));
  }
  b.finish(fields);
}

void append_downstream_response_head(std::string& out, const http::response_head& resp,
                                     const downstream_response_options& opts) {
  const bool check_nominated = nominates_end_to_end_field(resp.headers);
  out.append("HTTP/1.1 ");
  append_number(out, resp.status);
  out.push_back(' ');
  out.append(resp.reason.empty() ? reason_phrase(resp.status) : resp.reason);
  out.append("\r\n");
  for (const auto& h : resp.headers) {
    const field_id id = id_of(h);
    const bool kept_upgrade = opts.upgrade && id == field_id::upgrade;
    if (!kept_upgrade &&
        (is_hop_by_hop(id) || (check_nominated && nominated_by_connection(resp.headers, h.name)))) {
      continue;
    }
    append_field(out, h.name, h.value);
  }
  if (opts.via) {
    out.append(resp.ver == http::version::http10 ? "Via: 1.0 cohort\r\n" : "Via: 1.1 cohort\r\n");
  }
  if (!opts.decision_header.empty()) {
    append_field(out, opts.decision_header, opts.decision_value);
  }
  if (!opts.set_cookie.empty()) {
    append_field(out, "Set-Cookie", opts.set_cookie);
  }
  switch (opts.body) {
    case downstream_body::content_length:
      out.append("Content-Length: ");
      append_number(out, opts.content_length);
      out.append("\r\n");
      break;
    case downstream_body::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case downstream_body::none:
      // A HEAD or 304 answer keeps the upstream's declared length (RFC 9110
      // 9.3.2, 8.6). The parser gives such answers no body framing, so the
      // field itself decides; 1xx and 204 never carry one.
      if (resp.status >= 200 && resp.status != 204 && resp.find("content-length") != nullptr) {
        out.append("Content-Length: ");
        append_number(out, resp.content_length);
        out.append("\r\n");
      }
      break;
    case downstream_body::until_close:
      break;
  }
  if (opts.upgrade) {
    out.append("Connection: upgrade\r\n");
  } else if (opts.close) {
    out.append("Connection: close\r\n");
  } else if (opts.client_http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

void append_local_response(std::string& out, unsigned status, std::string_view content_type,
                           std::string_view body, bool close, bool client_http10,
                           std::string_view extra_name, std::string_view extra_value) {
  out.append("HTTP/1.1 ");
  append_number(out, status);
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\nServer: cohort\r\n");
  if (!content_type.empty()) {
    append_field(out, "Content-Type", content_type);
  }
  out.append("Content-Length: ");
  append_number(out, body.size());
  out.append("\r\n");
  if (!extra_name.empty()) {
    append_field(out, extra_name, extra_value);
  }
  if (close) {
    out.append("Connection: close\r\n");
  } else if (client_http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  out.append(body);
}

std::string_view reason_phrase(unsigned status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace cohort::proxy
