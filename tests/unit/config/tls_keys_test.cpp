// The tls: keys of listeners and services: defaults, values, and errors with their place.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config_errors.hpp"

namespace cohort::config {
namespace {

// "t.yaml:LINE:COLUMN" of the first occurrence of needle in yaml: where a
// diagnostic about that text must point.
std::string at(const std::string& yaml, const std::string& needle) {
  const auto pos = yaml.find(needle);
  EXPECT_NE(pos, std::string::npos) << needle;
  const auto line_start = yaml.rfind('\n', pos);
  const auto line = 1 + std::count(yaml.begin(), yaml.begin() + static_cast<long>(pos), '\n');
  const auto column = line_start == std::string::npos ? pos + 1 : pos - line_start;
  return "t.yaml:" + std::to_string(line) + ":" + std::to_string(column);
}

// A listener whose tls: block is `tls` (flow style, on line 2).
std::string listener(const std::string& tls) {
  return "gateway:\n  listeners: [{name: p, address: 127.0.0.1:0, tls: " + tls + "}]\n";
}

const std::string service_head = R"(gateway:
  listeners: [{name: p, address: 127.0.0.1:0}]
services:
  - name: api
    subsets:
      stable: { endpoints: [127.0.0.1:9443] }
)";

TEST(ListenerTls, DefaultsWhenOnlyThePairIsGiven) {
  const auto loaded =
      load_config_text(listener("{certificate: c.pem, private_key: k.pem}"), "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& tls = loaded.value().gateway.listeners.at(0).tls;
  ASSERT_TRUE(tls.has_value());
  EXPECT_EQ(tls->certificate, "c.pem");
  EXPECT_EQ(tls->private_key, "k.pem");
  EXPECT_TRUE(tls->certificates.empty());
  EXPECT_EQ(tls->alpn, (lines{"h2", "http/1.1"}));
  EXPECT_EQ(tls->min_version, tls_version::v1_2);
  EXPECT_EQ(tls->where.line, 2);
}

TEST(ListenerTls, SniCertificatesAlpnAndVersionAreRead) {
  const auto loaded = load_config_text(R"(gateway:
  listeners:
    - name: p
      address: 127.0.0.1:0
      tls:
        certificate: default.pem
        private_key: default.key
        certificates:
          - { certificate: api.pem, private_key: api.key }
          - { certificate: www.pem, private_key: www.key }
        alpn: [http/1.1]
        min_version: "1.3"
)",
                                       "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& tls = *loaded.value().gateway.listeners.at(0).tls;
  ASSERT_EQ(tls.certificates.size(), 2u);
  EXPECT_EQ(tls.certificates[0].certificate, "api.pem");
  EXPECT_EQ(tls.certificates[0].private_key, "api.key");
  EXPECT_EQ(tls.certificates[0].where.line, 9);
  EXPECT_EQ(tls.certificates[1].certificate, "www.pem");
  EXPECT_EQ(tls.alpn, (lines{"http/1.1"}));
  EXPECT_EQ(tls.min_version, tls_version::v1_3);
}

TEST(ListenerTls, UnquotedVersionIsAccepted) {
  const auto loaded = load_config_text(
      listener("{certificate: c.pem, private_key: k.pem, min_version: 1.2}"), "t.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value().gateway.listeners.at(0).tls->min_version, tls_version::v1_2);
}

TEST(ListenerTls, OldOrUnknownVersionsAreRejected) {
  const auto yaml = listener("{certificate: c.pem, private_key: k.pem, min_version: \"1.1\"}");
  EXPECT_EQ(errors(yaml), lines{at(yaml, "\"1.1\"") +
                                ": listener 'p' tls: min_version '1.1' is not allowed: only "
                                "\"1.2\" and \"1.3\" are (older TLS versions are never offered)"});
  EXPECT_EQ(errors(listener("{certificate: c.pem, private_key: k.pem, min_version: 2}")).size(),
            1u);
}

TEST(ListenerTls, UnknownKeysAreReported) {
  const auto yaml = listener("{certificate: c.pem, private_key: k.pem, certificat: x}");
  EXPECT_EQ(errors(yaml), lines{at(yaml, "certificat:") +
                                ": listener 'p' tls: unknown key 'certificat' (did you mean "
                                "'certificate'?)"});
}

TEST(ListenerTls, AlpnMustNameKnownProtocolsOnce) {
  auto yaml = listener("{certificate: c.pem, private_key: k.pem, alpn: [h2, http/1.0]}");
  EXPECT_EQ(errors(yaml), lines{at(yaml, "http/1.0") +
                                ": listener 'p' tls: alpn protocol 'http/1.0' is not one of h2, "
                                "http/1.1 (did you mean 'http/1.1'?)"});
  yaml = listener("{certificate: c.pem, private_key: k.pem, alpn: [h2, h2 ]}");
  EXPECT_EQ(errors(yaml),
            lines{at(yaml, "h2 ]") + ": listener 'p' tls: alpn protocol 'h2' is listed twice"});
  yaml = listener("{certificate: c.pem, private_key: k.pem, alpn: []}");
  EXPECT_EQ(errors(yaml),
            lines{at(yaml, "[]") + ": listener 'p' tls: alpn must list at least one protocol (h2, "
                                   "http/1.1)"});
}

TEST(ListenerTls, CertificatesNeedBothFiles) {
  auto yaml =
      listener("{certificate: c.pem, private_key: k.pem, certificates: [{certificate: a.pem}]}");
  EXPECT_EQ(errors(yaml), lines{at(yaml, "{certificate: a.pem}") +
                                ": listener 'p' tls certificate 1: missing required key "
                                "'private_key'"});
  yaml = listener("{certificate: c.pem, private_key: \"\"}");
  EXPECT_EQ(errors(yaml),
            lines{at(yaml, "\"\"") + ": listener 'p' tls: private_key must name a file"});
  yaml = listener("{certificate: c.pem}");
  EXPECT_EQ(errors(yaml), lines{at(yaml, "{certificate: c.pem}") +
                                ": listener 'p' tls: missing required key 'private_key'"});
}

TEST(UpstreamTls, AbsentMeansPlainTcp) {
  const auto loaded = load_config_text(service_head, "t.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded.value().services.at(0).tls.has_value());
}

TEST(UpstreamTls, EmptyBlockVerifiesAgainstTheSystemStore) {
  const auto loaded = load_config_text(service_head + "    tls: {}\n", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& tls = loaded.value().services.at(0).tls;
  ASSERT_TRUE(tls.has_value());
  EXPECT_TRUE(tls->verify);
  EXPECT_TRUE(tls->ca_file.empty());
  EXPECT_TRUE(tls->certificate.empty());
  EXPECT_TRUE(tls->server_name.empty());
}

TEST(UpstreamTls, ValuesAreRead) {
  const auto loaded = load_config_text(service_head + R"(    tls:
      ca_file: ca.pem
      certificate: client.pem
      private_key: client.key
      server_name: api.internal.test
)",
                                       "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& tls = *loaded.value().services.at(0).tls;
  EXPECT_EQ(tls.ca_file, "ca.pem");
  EXPECT_EQ(tls.certificate, "client.pem");
  EXPECT_EQ(tls.private_key, "client.key");
  EXPECT_EQ(tls.server_name, "api.internal.test");
  EXPECT_TRUE(tls.verify);
  EXPECT_EQ(tls.where.line, 8);
}

TEST(UpstreamTls, ClientCertificateNeedsItsKey) {
  auto yaml = service_head + "    tls: {certificate: client.pem}\n";
  EXPECT_EQ(errors(yaml), lines{at(yaml, "client.pem") +
                                ": service 'api' tls: certificate (a client certificate) needs "
                                "private_key too"});
  yaml = service_head + "    tls: {private_key: client.key}\n";
  EXPECT_EQ(errors(yaml), lines{at(yaml, "client.key") +
                                ": service 'api' tls: private_key needs certificate too"});
}

TEST(UpstreamTls, BadValuesAreReportedAtTheirPlace) {
  auto yaml = service_head + "    tls: {server_name: \"bad name\"}\n";
  EXPECT_EQ(errors(yaml), lines{at(yaml, "\"bad name\"") +
                                ": service 'api' tls: server_name 'bad name' is not a DNS name or "
                                "an IP address"});
  yaml = service_head + "    tls: {server_name: -bad.example}\n";
  EXPECT_EQ(errors(yaml).size(), 1u);
  yaml = service_head + "    tls: {verify: maybe}\n";
  EXPECT_EQ(errors(yaml),
            lines{at(yaml, "maybe") + ": service 'api' tls: verify 'maybe' is not true or false"});
  yaml = service_head + "    tls: {ca_file: ca.pem, verify: false}\n";
  EXPECT_EQ(errors(yaml), lines{at(yaml, "ca.pem") +
                                ": service 'api' tls: ca_file has no use with verify: false"});
  yaml = service_head + "    tls: {sni: x}\n";
  EXPECT_EQ(errors(yaml), lines{at(yaml, "sni") + ": service 'api' tls: unknown key 'sni'"});
  yaml = service_head + "    tls: [a]\n";
  EXPECT_EQ(errors(yaml),
            lines{at(yaml, "[a]") + ": service 'api' tls must be a map of keys to values"});
}

TEST(UpstreamTls, IpServerNamesAreAccepted) {
  const auto loaded =
      load_config_text(service_head + "    tls: {server_name: 127.0.0.1}\n", "t.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value().services.at(0).tls->server_name, "127.0.0.1");
}

}  // namespace
}  // namespace cohort::config
