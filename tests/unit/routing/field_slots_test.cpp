#include "routing/field_slots.hpp"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "routing/request_fields.hpp"
#include "test_support.hpp"

namespace cohort::routing {
namespace {

// A decision's field table must answer exactly what the direct lookups answer,
// whatever the request: repeated headers, names in any case, several Cookie
// headers, odd cookie and query syntax, names beyond the table.
TEST(FieldSlots, AgreesWithDirectLookups) {
  // Names of every length class the comparison treats apart: under 4 bytes,
  // 4 to 7, exactly 8, 9 to 16, over 16; and names that share a length.
  const std::vector<std::string> header_names = {"X-User-Id",
                                                 "x-app-version",
                                                 "Cookie",
                                                 "User-Agent",
                                                 "X-Cohort",
                                                 "Accept",
                                                 "X-Averyveryverylongheadername-Here",
                                                 "TE",
                                                 "X-Ab",
                                                 "X-Region",
                                                 "X-Regiom",
                                                 "x-user-ie",
                                                 "X-Averyveryverylongheadername-Hexe"};
  const std::vector<std::string> cookie_names = {"plan", "cohort_uid", "theme", "a"};
  const std::vector<std::string> query_names = {"preview", "user", "x"};
  const std::vector<std::string> values = {
      "",
      "1",
      "a=1",
      "plan=pro; theme=dark",
      " plan = \"ent\" ;a",
      "plan;a=2;;cohort_uid=ff",
      "5.2.0",
      "v6",
      "\tplan\t=\t\"\" ; theme",
      "plan=\"",
      "=plan; plan=a=b;",
      "a; plan=x",
      "theme=dark; plan=free; session=abc",
      "averyveryverylongcookiename=averyveryverylongvalue;plan=long",
      "a=0123456789abcdef0;plan=;",
      " ;;plan= ;a=1 "};
  const std::vector<std::string> queries = {
      "",
      "preview",
      "user=1&user=2",
      "x=&preview=1",
      "a=1&&x",
      "userx=3&user",
      "&",
      "x=a=b&",
      "preview&x",
      "=1&user=",
      "averyveryverylongparametername=averyveryverylongvalue&user=u1&preview=1"};
  std::mt19937 rng(3);
  const auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  const auto vary_case = [&](std::string s) {
    for (char& c : s) {
      if (rng() % 2 == 0 && c >= 'a' && c <= 'z') {
        c = static_cast<char>(c - 32);
      } else if (rng() % 2 == 0 && c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c + 32);
      }
    }
    return s;
  };

  for (int round = 0; round < 400; ++round) {
    // Catalogs that know some of the names, with and without the Cookie header itself.
    field_catalog catalog;
    std::vector<slot_index> header_slots;
    for (const std::string& n : header_names) {
      header_slots.push_back(rng() % 3 == 0 ? no_slot : catalog.add_header(vary_case(n)));
    }
    std::vector<slot_index> cookie_slots;
    for (const std::string& n : cookie_names) {
      cookie_slots.push_back(rng() % 3 == 0 ? no_slot : catalog.add_cookie(n));
    }
    std::vector<slot_index> query_slots;
    for (const std::string& n : query_names) {
      query_slots.push_back(rng() % 3 == 0 ? no_slot : catalog.add_query(n));
    }
    testing::fake_request r;
    const int headers = static_cast<int>(rng() % 9);
    for (int i = 0; i < headers; ++i) {
      r.header(vary_case(pick(header_names)), pick(values));
    }
    r.query(pick(queries));
    const request_view view = r.view();
    field_values fields(view, &catalog);
    // Ask in a random order, since parts are read on first use.
    for (int ask = 0; ask < 12; ++ask) {
      const std::size_t h = rng() % header_names.size();
      EXPECT_EQ(fields.header(header_slots[h], header_names[h]), find_header(view, header_names[h]))
          << header_names[h];
      const std::size_t c = rng() % cookie_names.size();
      EXPECT_EQ(fields.cookie(cookie_slots[c], cookie_names[c]), find_cookie(view, cookie_names[c]))
          << cookie_names[c];
      const std::size_t q = rng() % query_names.size();
      EXPECT_EQ(fields.query(query_slots[q], query_names[q]),
                find_query_param(view.query, query_names[q]))
          << query_names[q];
    }
  }
}

TEST(FieldSlots, TableFullLeavesNamesUnslotted) {
  field_catalog catalog;
  for (std::size_t i = 0; i < max_header_slots; ++i) {
    EXPECT_NE(catalog.add_header("x-h" + std::to_string(i)), no_slot);
  }
  EXPECT_EQ(catalog.add_header("x-one-more"), no_slot);
  EXPECT_EQ(catalog.add_header("X-H3"), catalog.header_slot("x-h3"));  // known names keep theirs
}

}  // namespace
}  // namespace cohort::routing
