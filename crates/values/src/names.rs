//! Matching the names users write against WIT names.
//!
//! WIT names are `kebab-case`, but task inputs are written by people and by programs in other
//! languages (`snake_case` in Python and Rust, `camelCase` in JavaScript, `Ok` in Rust's serde).
//! An exact match always wins; otherwise a name matches when it is equal ignoring case and the
//! separators `-`, `_` and space, as long as exactly one WIT name matches that way.

/// The outcome of looking a user-written name up among WIT names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The index of the matching WIT name.
    Found(usize),
    /// No WIT name matches.
    Unknown,
    /// More than one WIT name matches loosely (and none exactly); these are the candidates.
    Ambiguous(Vec<String>),
}

/// Looks `given` up among `names` (exactly first, then loosely).
pub(crate) fn lookup<'a>(given: &str, names: impl IntoIterator<Item = &'a str>) -> Lookup {
    let names: Vec<&str> = names.into_iter().collect();
    if let Some(index) = names.iter().position(|name| *name == given) {
        return Lookup::Found(index);
    }
    let wanted = loose(given);
    let matches: Vec<usize> = (0..names.len())
        .filter(|&index| loose(names[index]) == wanted)
        .collect();
    match matches.as_slice() {
        [] => Lookup::Unknown,
        [index] => Lookup::Found(*index),
        _ => Lookup::Ambiguous(matches.iter().map(|&i| names[i].to_string()).collect()),
    }
}

/// The comparison key of a name: lowercase, without separators.
fn loose(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// `a, b, c` for messages that list the valid names.
pub(crate) fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_wins_over_loose_match() {
        assert_eq!(lookup("max_len", ["max-len", "max_len"]), Lookup::Found(1));
        assert_eq!(lookup("max-len", ["max-len", "max_len"]), Lookup::Found(0));
    }

    #[test]
    fn snake_camel_and_upper_case_match_kebab_case() {
        let names = ["min", "max-len", "bad-input"];
        assert_eq!(lookup("max_len", names), Lookup::Found(1));
        assert_eq!(lookup("maxLen", names), Lookup::Found(1));
        assert_eq!(lookup("BadInput", names), Lookup::Found(2));
        assert_eq!(lookup("MIN", names), Lookup::Found(0));
    }

    #[test]
    fn unknown_and_ambiguous_names() {
        assert_eq!(lookup("maxlength", ["max-len"]), Lookup::Unknown);
        assert_eq!(lookup("", ["a"]), Lookup::Unknown);
        assert_eq!(
            lookup("A_B", ["a-b", "ab"]),
            Lookup::Ambiguous(vec!["a-b".into(), "ab".into()])
        );
    }
}
