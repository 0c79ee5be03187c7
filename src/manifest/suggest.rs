//! "Did you mean" suggestions for misspelt field names, kinds and references.

/// The candidate closest to `word`, when it is close enough to be a plausible typo.
/// Case differences alone always count as close.
pub fn similar<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = if candidate.to_lowercase() == lower {
            0
        } else {
            levenshtein(&lower, &candidate.to_lowercase())
        };
        let limit = (candidate.chars().count().max(word.chars().count()) / 3).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// "did you mean `x`?" when a candidate is close, else the list of what is allowed.
pub fn expected_hint(word: &str, expected: &[&str]) -> String {
    if let Some(s) = similar(word, expected.iter().copied()) {
        return format!("did you mean `{s}`?");
    }
    match expected {
        [] => "no fields are allowed here".to_string(),
        [one] => format!("expected `{one}`"),
        many => {
            let list: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("expected one of {}", list.join(", "))
        }
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["displayName", "url", "auth"];
        assert_eq!(similar("dispalyName", fields), Some("displayName"));
        assert_eq!(similar("URL", fields), Some("url"));
        assert_eq!(similar("password", fields), None);
    }
}
