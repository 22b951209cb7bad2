//! Finding the line of an offending value in a file's text.
//!
//! Configs are parsed into typed structs that carry no positions, so each finding
//! searches the file text for the value it is about (a target string, an expression,
//! a uid). The first occurrence wins unless a key is given, in which case the first
//! line holding both the key and the value wins.

/// 1-based (line, col) of the first occurrence of `needle`, if any.
pub fn find(text: &str, needle: &str) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    let idx = text.find(needle)?;
    Some(pos_of(text, idx))
}

/// 1-based line of the first line containing both `key` and `value`
/// (falls back to the first line containing `value`, then to 1).
pub fn line_with(text: &str, key: &str, value: &str) -> usize {
    for (i, l) in text.lines().enumerate() {
        if l.contains(key) && l.contains(value) {
            return i + 1;
        }
    }
    line_of(text, value)
}

/// 1-based line of the first occurrence of `needle` (1 when absent).
pub fn line_of(text: &str, needle: &str) -> usize {
    find(text, needle).map(|p| p.0).unwrap_or(1)
}

/// Line of an expression: tries the verbatim text, its JSON-escaped form, then its
/// first non-empty line (YAML block scalars), then its first 40 characters.
pub fn line_of_expr(text: &str, expr: &str) -> usize {
    let e = expr.trim();
    if let Some((l, _)) = find(text, e) {
        return l;
    }
    let json = serde_json::to_string(e).unwrap_or_default();
    let json = json.trim_matches('"');
    if let Some((l, _)) = find(text, json) {
        return l;
    }
    if let Some(first) = e.lines().map(str::trim).find(|l| !l.is_empty()) {
        if let Some((l, _)) = find(text, first) {
            return l;
        }
        let js = serde_json::to_string(first).unwrap_or_default();
        if let Some((l, _)) = find(text, js.trim_matches('"')) {
            return l;
        }
    }
    let short: String = e.chars().take(40).collect();
    line_of(text, &short)
}

fn pos_of(text: &str, idx: usize) -> (usize, usize) {
    let before = &text[..idx];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|p| idx - p).unwrap_or(idx + 1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_and_columns() {
        let t = "a: 1\nb: [\"x:1\"]\nc: x:1\n";
        assert_eq!(find(t, "x:1"), Some((2, 6)));
        assert_eq!(line_with(t, "c:", "x:1"), 3);
        assert_eq!(line_of(t, "zzz"), 1);
        assert_eq!(
            line_of_expr("{\"expr\": \"up{job=\\\"a\\\"}\"}", "up{job=\"a\"}"),
            1
        );
    }
}
