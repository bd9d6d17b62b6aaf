//! Glob matching for push rules (spec: appendices "Glob-style matching": `*` matches any
//! run of characters, `?` exactly one), case-insensitive, on whole values or, for
//! `content.body`, on any substring that starts and ends at a word boundary.

/// Whether `pattern` matches all of `text`, ignoring case.
pub fn matches_whole(pattern: &str, text: &str) -> bool {
    let pattern = lower_chars(pattern);
    let text = lower_chars(text);
    matches_from(&pattern, &text, 0, |position| position == text.len())
}

/// Whether `pattern` matches a substring of `text` that starts and ends at a word boundary
/// (the start or end of the text, or next to a character outside `[A-Za-z0-9_]`).
pub fn matches_words(pattern: &str, text: &str) -> bool {
    let pattern = lower_chars(pattern);
    let text = lower_chars(text);
    let first_literal = pattern.first().copied().filter(|c| *c != '*' && *c != '?');
    (0..=text.len())
        .filter(|start| is_start_boundary(&text, *start))
        .filter(|start| first_literal.is_none_or(|c| text.get(*start) == Some(&c)))
        .any(|start| matches_from(&pattern, &text, start, |end| is_end_boundary(&text, end)))
}

/// Whether `needle`, taken literally (no wildcards: a display name), occurs in `text`
/// between word boundaries, ignoring case.
pub fn contains_words(needle: &str, text: &str) -> bool {
    let needle = lower_chars(needle);
    let text = lower_chars(text);
    if needle.is_empty() || needle.len() > text.len() {
        return false;
    }
    (0..=text.len() - needle.len()).any(|start| {
        is_start_boundary(&text, start)
            && text.get(start..start + needle.len()) == Some(needle.as_slice())
            && is_end_boundary(&text, start + needle.len())
    })
}

fn lower_chars(text: &str) -> Vec<char> {
    text.chars().flat_map(char::to_lowercase).collect()
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A match may start here: at the start, or after a non-word character.
fn is_start_boundary(text: &[char], position: usize) -> bool {
    position == 0 || text.get(position - 1).is_some_and(|c| !is_word_char(*c))
}

/// A match may end here: at the end, or before a non-word character.
fn is_end_boundary(text: &[char], position: usize) -> bool {
    text.get(position).is_none_or(|c| !is_word_char(*c))
}

/// Runs the pattern as a set of states over `text[start..]`; true when the whole pattern
/// has been consumed at a position `accept` allows.
fn matches_from(
    pattern: &[char],
    text: &[char],
    start: usize,
    accept: impl Fn(usize) -> bool,
) -> bool {
    let mut states = vec![false; pattern.len() + 1];
    states[0] = true;
    close(pattern, &mut states);
    let mut position = start;
    loop {
        if states[pattern.len()] && accept(position) {
            return true;
        }
        let Some(&c) = text.get(position) else {
            return false;
        };
        let mut next = vec![false; pattern.len() + 1];
        for (index, &on) in states.iter().enumerate() {
            if !on {
                continue;
            }
            match pattern.get(index) {
                Some('*') => next[index] = true,
                Some('?') => next[index + 1] = true,
                Some(literal) if *literal == c => next[index + 1] = true,
                _ => {}
            }
        }
        close(pattern, &mut next);
        if !next.iter().any(|on| *on) {
            return false;
        }
        states = next;
        position += 1;
    }
}

/// A `*` may match nothing: a state before it also stands after it.
fn close(pattern: &[char], states: &mut [bool]) {
    for index in 0..pattern.len() {
        if states[index] && pattern[index] == '*' {
            states[index + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_values() {
        for (pattern, text, expected) in [
            ("lunc?*", "Lunch plans", true),
            ("lunc?*", "LUNCH", true),
            ("lunc?*", " lunch", false),
            ("lunc?*", "lunc", false),
            ("m.notice", "m.notice", true),
            ("m.notice", "m.noticex", false),
            ("*", "", true),
            ("", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
        ] {
            assert_eq!(matches_whole(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn words_in_a_body() {
        for (pattern, text, expected) in [
            ("ex*ple", "An example event.", true),
            ("ex*ple", "exple", true),
            ("ex*ple", "An exciting triple-whammy", true),
            ("alice", "hello Alice!", true),
            ("alice", "hello alicex", false),
            ("alice", "malice", false),
            ("@room", "hey @room look", true),
            ("@room", "hey @roomy", false),
        ] {
            assert_eq!(matches_words(pattern, text), expected, "{pattern} ~ {text}");
        }
    }
}
