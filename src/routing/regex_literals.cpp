#include "routing/regex_literals.hpp"

#include <vector>

namespace cohort::routing {

namespace {

enum class token_kind : std::uint8_t { literal, dot_star, other };

struct token {
  token_kind kind = token_kind::other;
  char c = 0;
};

constexpr std::size_t npos = std::string_view::npos;

bool is_ascii_punct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

// Past the ']' of the class that opens at p[i], or npos.
std::size_t skip_class(std::string_view p, std::size_t i) {
  std::size_t j = i + 1;
  if (j < p.size() && p[j] == '^') {
    ++j;
  }
  if (j < p.size() && p[j] == ']') {
    ++j;  // a leading ']' is a member
  }
  while (j < p.size()) {
    if (p[j] == ']') {
      return j + 1;
    }
    if (p[j] == '\\') {
      j += 2;
    } else if (p[j] == '[' && j + 1 < p.size() && p[j + 1] == ':') {
      const std::size_t close = p.find(":]", j + 2);
      if (close == npos) {
        return npos;
      }
      j = close + 2;
    } else {
      ++j;
    }
  }
  return npos;
}

// Past the ')' of the group that opens at p[i], or npos (also for flag groups
// such as "(?i)", which would change how the literals that follow match).
std::size_t skip_group(std::string_view p, std::size_t i) {
  int depth = 0;
  std::size_t j = i;
  while (j < p.size()) {
    const char c = p[j];
    if (c == '\\') {
      j += 2;
    } else if (c == '[') {
      j = skip_class(p, j);
      if (j == npos) {
        return npos;
      }
    } else if (c == '(') {
      if (j + 1 < p.size() && p[j + 1] == '?') {
        const std::string_view rest = p.substr(j + 2);
        if (!rest.starts_with(":") && !rest.starts_with("P<")) {
          return npos;
        }
      }
      ++depth;
      ++j;
    } else if (c == ')') {
      --depth;
      ++j;
      if (depth == 0) {
        return j;
      }
    } else {
      ++j;
    }
  }
  return npos;
}

bool is_quantifier(char c) {
  return c == '*' || c == '+' || c == '?' || c == '{';
}

// The top-level tokens of a pattern, or nullopt for anything not understood.
std::optional<std::vector<token>> tokenize(std::string_view p) {
  std::vector<token> out;
  std::size_t i = 0;
  if (!p.empty() && p.front() == '^') {
    i = 1;
  }
  while (i < p.size()) {
    const char c = p[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      return std::nullopt;  // a multi-byte character: left to RE2
    }
    switch (c) {
      case '\\':
        if (i + 1 >= p.size() || !is_ascii_punct(p[i + 1])) {
          return std::nullopt;  // \d, \w, \b, \Q, \x... are not literals
        }
        out.push_back({token_kind::literal, p[i + 1]});
        i += 2;
        break;
      case '.':
        if (i + 1 < p.size() && p[i + 1] == '*' &&
            (i + 2 >= p.size() || !is_quantifier(p[i + 2]))) {
          out.push_back({token_kind::dot_star, 0});
          i += 2;
        } else {
          out.push_back({token_kind::other, 0});
          ++i;
        }
        break;
      case '[':
        i = skip_class(p, i);
        if (i == npos) {
          return std::nullopt;
        }
        out.push_back({token_kind::other, 0});
        break;
      case '(':
        i = skip_group(p, i);
        if (i == npos) {
          return std::nullopt;
        }
        out.push_back({token_kind::other, 0});
        break;
      case '*':
      case '+':
      case '?':
        if (out.empty()) {
          return std::nullopt;
        }
        out.back().kind = token_kind::other;  // a repeated literal is no longer required
        ++i;
        break;
      case '$':
        if (i + 1 != p.size()) {
          return std::nullopt;
        }
        ++i;  // the end of the text: a full match is there anyway
        break;
      case '{':  // a repetition or a literal brace: either way, not worth the parse
      case '|':  // an alternative: nothing is required of every match
      case ')':
      case '^':  // only meaningful at the start
        return std::nullopt;
      default:
        out.push_back({token_kind::literal, c});
        ++i;
        break;
    }
  }
  return out;
}

bool ascii_without_newline(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80 || c == '\n') {
      return false;
    }
  }
  return true;
}

}  // namespace

regex_literals analyse_regex(std::string_view pattern) {
  regex_literals out;
  const auto tokens = tokenize(pattern);
  if (!tokens) {
    return out;
  }
  const std::vector<token>& t = *tokens;
  std::size_t head_end = 0;
  while (head_end < t.size() && t[head_end].kind == token_kind::literal) {
    out.head.push_back(t[head_end].c);
    ++head_end;
  }
  std::size_t tail_begin = t.size();
  while (tail_begin > head_end && t[tail_begin - 1].kind == token_kind::literal) {
    --tail_begin;
  }
  for (std::size_t i = tail_begin; i < t.size(); ++i) {
    out.tail.push_back(t[i].c);
  }
  if (head_end == t.size()) {
    out.tail = out.head;  // all literal
  }

  std::size_t first = 0;
  std::size_t last = t.size();
  const bool leading = first < last && t[first].kind == token_kind::dot_star;
  if (leading) {
    ++first;
  }
  const bool trailing = first < last && t[last - 1].kind == token_kind::dot_star;
  if (trailing) {
    --last;
  }
  for (std::size_t i = first; i < last; ++i) {
    if (t[i].kind != token_kind::literal) {
      return out;
    }
    out.literal.push_back(t[i].c);
  }
  out.whole = leading && trailing ? regex_literals::shape::contains
              : leading           ? regex_literals::shape::suffix
              : trailing          ? regex_literals::shape::prefix
                                  : regex_literals::shape::exact;
  return out;
}

std::optional<bool> match_by_literals(const regex_literals& lits, std::string_view text) {
  if (!text.starts_with(lits.head) || !text.ends_with(lits.tail)) {
    return false;
  }
  if (lits.whole == regex_literals::shape::none || !ascii_without_newline(text)) {
    return std::nullopt;
  }
  switch (lits.whole) {
    case regex_literals::shape::exact:
      return text == lits.literal;
    case regex_literals::shape::prefix:
      return text.starts_with(lits.literal);
    case regex_literals::shape::suffix:
      return text.ends_with(lits.literal);
    case regex_literals::shape::contains:
      return text.find(lits.literal) != std::string_view::npos;
    case regex_literals::shape::none:
      break;
  }
  return std::nullopt;
}

}  // namespace cohort::routing
