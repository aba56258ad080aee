//! "Did you mean" suggestions for misspelt names.

/// The largest edit distance still offered as a suggestion.
pub const MAX_SUGGESTION_DISTANCE: usize = 2;

/// The candidate closest to `name` within [`MAX_SUGGESTION_DISTANCE`] edits, comparing
/// ASCII-case-folded text. Candidates are `(folded, spelling)` pairs and the spelling
/// is returned; on ties the first candidate wins, so callers pass them in a stable
/// order.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<&'a str> {
    let wanted: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let mut best: Option<(usize, &'a str)> = None;
    for (folded, spelling) in candidates {
        let limit = match best {
            Some((0, _)) => break,
            Some((d, _)) => d - 1,
            None => MAX_SUGGESTION_DISTANCE,
        };
        let other: Vec<char> = folded.chars().collect();
        if let Some(d) = bounded_distance(&wanted, &other, limit) {
            best = Some((d, spelling));
        }
    }
    best.map(|(_, spelling)| spelling)
}

/// Optimal-string-alignment distance (insert, delete, substitute, swap neighbours)
/// between `a` and `b`, or `None` if it exceeds `limit`.
fn bounded_distance(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let width = b.len() + 1;
    // Three rows: two back (for swaps), previous, current.
    let mut two_back: Vec<usize> = vec![0; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..width {
            let same = a[i - 1] == b[j - 1];
            let mut d = (prev[j] + 1)
                .min(cur[j - 1] + 1)
                .min(prev[j - 1] + usize::from(!same));
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two_back[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut two_back, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[width - 1];
    (d <= limit).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(a: &str, b: &str) -> Option<usize> {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        bounded_distance(&a, &b, 10)
    }

    #[test]
    fn distances() {
        assert_eq!(dist("", ""), Some(0));
        assert_eq!(dist("abc", "abc"), Some(0));
        assert_eq!(dist("abc", "abd"), Some(1));
        assert_eq!(dist("abc", "acb"), Some(1));
        assert_eq!(dist("abc", "ab"), Some(1));
        assert_eq!(dist("", "abc"), Some(3));
        assert_eq!(dist("kitten", "sitting"), Some(3));
        let a: Vec<char> = "kitten".chars().collect();
        let b: Vec<char> = "sitting".chars().collect();
        assert_eq!(bounded_distance(&a, &b, 2), None);
    }

    #[test]
    fn picks_the_nearest_and_first_on_ties() {
        let c = [
            ("user-name", "User-Name"),
            ("user-password", "User-Password"),
        ];
        assert_eq!(closest("User-Nmae", c.iter().copied()), Some("User-Name"));
        assert_eq!(closest("USER-NAME", c.iter().copied()), Some("User-Name"));
        assert_eq!(closest("Totally-Else", c.iter().copied()), None);
        let tie = [("ab", "AB"), ("ac", "AC")];
        assert_eq!(closest("aa", tie.iter().copied()), Some("AB"));
    }
}
