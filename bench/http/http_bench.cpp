// Microbenchmarks of the HTTP/1.1 codec on realistic heads (a browser-like
// request, a mobile API call, an upstream response) and on chunked bodies.

#include <benchmark/benchmark.h>

#include <string>

#include "http/chunked.hpp"
#include "http/parser.hpp"

namespace {

using namespace cohort::http;

const std::string browser_request =
    "GET /api/v1/profile/42?fields=name,avatar&lang=en HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;"
    "q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Cookie: cohort_uid=6f1c2a9e-8b7d-4c1a-9f0e-2d3b4a5c6d7e; session=abcdefghijklmnopqrstuvwxyz"
    "0123456789; theme=dark\r\n"
    "Connection: keep-alive\r\n"
    "X-User-Id: u-123456\r\n"
    "X-App-Version: 4.12.1\r\n"
    "\r\n";

const std::string small_request = "GET /health HTTP/1.1\r\nHost: svc\r\n\r\n";

const std::string upstream_response =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 1234\r\n"
    "Date: Mon, 23 Nov 2026 01:55:21 GMT\r\n"
    "Cache-Control: no-store\r\n"
    "X-Request-Id: 0f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0\r\n"
    "\r\n";

void request_head_bench(benchmark::State& state, const std::string& data) {
  request_head head;
  const parse_limits limits;
  for (auto _ : state) {
    const parse_result r = parse_request_head(data, limits, head);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(head.host.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
  state.SetItemsProcessed(state.iterations());
}

void BM_parse_request_browser(benchmark::State& state) {
  request_head_bench(state, browser_request);
}
void BM_parse_request_small(benchmark::State& state) {
  request_head_bench(state, small_request);
}

void BM_parse_response(benchmark::State& state) {
  response_head head;
  const parse_limits limits;
  for (auto _ : state) {
    const parse_result r = parse_response_head(upstream_response, limits, false, head);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * upstream_response.size()));
  state.SetItemsProcessed(state.iterations());
}

void BM_chunked_decode(benchmark::State& state) {
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::string encoded;
  for (int i = 0; i < 64; ++i) {
    append_chunk(encoded, std::string(chunk, 'x'));
  }
  append_last_chunk(encoded, "");
  chunked_decoder d;
  for (auto _ : state) {
    d.reset();
    std::string_view in = encoded;
    std::size_t body = 0;
    for (;;) {
      const chunked_decoder::step s = d.decode(in);
      body += s.data.size();
      in.remove_prefix(s.consumed);
      if (s.done || s.error || s.need_more) {
        break;
      }
    }
    benchmark::DoNotOptimize(body);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * encoded.size()));
}

BENCHMARK(BM_parse_request_browser);
BENCHMARK(BM_parse_request_small);
BENCHMARK(BM_parse_response);
BENCHMARK(BM_chunked_decode)->Arg(64)->Arg(4096);

}  // namespace

BENCHMARK_MAIN();
