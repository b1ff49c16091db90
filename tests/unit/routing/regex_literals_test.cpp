#include "routing/regex_literals.hpp"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <re2/re2.h>

#include "routing/matcher.hpp"

namespace cohort::routing {
namespace {

using shape = regex_literals::shape;

TEST(RegexLiterals, RecognisesLiteralShapes) {
  struct expected {
    const char* pattern;
    shape whole;
    const char* literal;
  };
  for (const expected& e : {
           expected{".*0$", shape::suffix, "0"}, expected{".*0", shape::suffix, "0"},
           expected{"^beta-.*", shape::prefix, "beta-"},
           expected{".*@corp\\.example\\.com", shape::suffix, "@corp.example.com"},
           expected{".*staff.*", shape::contains, "staff"},
           expected{"^internal$", shape::exact, "internal"},
           expected{".*", shape::suffix, ""},  // ends with "": anything without a newline
       }) {
    const regex_literals l = analyse_regex(e.pattern);
    EXPECT_EQ(l.whole, e.whole) << e.pattern;
    EXPECT_EQ(l.literal, e.literal) << e.pattern;
  }
}

TEST(RegexLiterals, FindsHeadAndTail) {
  const regex_literals l = analyse_regex("[a-z.]+@(corp|staff)\\.example\\.com");
  EXPECT_EQ(l.whole, shape::none);
  EXPECT_EQ(l.head, "");
  EXPECT_EQ(l.tail, ".example.com");
  const regex_literals m = analyse_regex("^user-[0-9]+-eu$");
  EXPECT_EQ(m.head, "user-");
  EXPECT_EQ(m.tail, "-eu");
  // A quantified literal is not required; an alternative requires nothing.
  EXPECT_EQ(analyse_regex("ab?").tail, "");
  EXPECT_EQ(analyse_regex("ab?").head, "a");
  EXPECT_EQ(analyse_regex("ab|cd").tail, "");
  EXPECT_EQ(analyse_regex("(?i)abc").whole, shape::none);
  EXPECT_EQ(analyse_regex("(?i)abc").tail, "");
  EXPECT_EQ(analyse_regex("\\d+0").tail, "");
}

// The fast path must agree with RE2 on every pattern and every text.
TEST(RegexLiterals, AgreesWithRe2) {
  const std::vector<std::string> patterns = {
      ".*0$",    ".*0",          "0.*",       "^0",
      ".*ab.*",  "ab",           "^ab$",      ".*",
      "a.*b",    "a.b",          "ab*",       "a+b",
      "(ab)*c",  "a(b|c)d",      "[ab]c",     "[]a]b",
      "[^a]b",   "[[:alpha:]]x", "x\\.y",     "\\.\\*",
      "a\\|b",   ".*?a",         ".*a?",      "a{2}",
      "(?:ab)c", "(?i)ab",       "(?i:a)b",   "[a-z.]+@(corp|staff)\\.example\\.com",
      "\\d+0",   "a\\b",         ".+0",       "a$",
      "é.*",     ".*é",          "a b",       "a\tb",
      "a]",      "a}",           "(a)(b)c.*", "^.*$",
  };
  const std::string alphabet = std::string("ab0c.*|xy") + '\n' + '\0' + "\xc3\xa9\xff@" + ' ';
  std::mt19937 rng(7);
  std::vector<std::string> texts = {"",
                                    "0",
                                    "a",
                                    "ab",
                                    "abc",
                                    "ba",
                                    "a\nb",
                                    "x.y",
                                    "é",
                                    "éa",
                                    "someone@corp.example.com",
                                    "a.b@staff.example.com"};
  for (int i = 0; i < 3000; ++i) {
    std::string t(rng() % 7, ' ');
    for (char& c : t) {
      c = alphabet[rng() % alphabet.size()];
    }
    texts.push_back(std::move(t));
  }
  int decided = 0;
  for (const std::string& p : patterns) {
    RE2::Options options;
    options.set_log_errors(false);
    const RE2 re(p, options);
    ASSERT_TRUE(re.ok()) << p;
    const regex_literals lits = analyse_regex(p);
    for (const std::string& t : texts) {
      const re2::StringPiece piece(t.data(), t.size());
      const bool want = RE2::FullMatch(piece, re);
      EXPECT_EQ(regex_full_match(re, lits, t), want) << "pattern '" << p << "' text '" << t << "'";
      decided += match_by_literals(lits, t).has_value() ? 1 : 0;
    }
  }
  // And the literals do decide most of them, so the comparison covers the fast path.
  EXPECT_GT(decided, static_cast<int>(patterns.size() * texts.size() / 2));
}

}  // namespace
}  // namespace cohort::routing
