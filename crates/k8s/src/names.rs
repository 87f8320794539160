//! Kubernetes names for a rendered cluster.
//!
//! The operator names the scheduler Service `<cluster>-scheduler`, and a Service name is a
//! DNS-1123 label of at most 63 characters, so a cluster name may have at most 53
//! (`MAX_CLUSTER_NAME_LEN` in dask-kubernetes). A longer name is accepted by the API server and
//! then leaves the job stuck in `Created` (dask/dask-kubernetes#870): it is refused here instead.

/// The longest cluster name the operator can run (`63 - len("-scheduler")`).
pub(crate) const MAX_CLUSTER_NAME: usize = 53;

/// The longest DNS-1123 label (a namespace).
const MAX_LABEL: usize = 63;

/// A name Kubernetes or the operator would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not a DNS-1123 label.
    #[error(
        "the {what} `{name}` is not a DNS-1123 label: use lowercase letters, digits and `-`, \
         starting and ending with a letter or digit (e.g. `{suggestion}`)"
    )]
    Invalid {
        /// What the name names (`cluster name`, `namespace`).
        what: &'static str,
        /// The refused name.
        name: String,
        /// A valid name close to it.
        suggestion: String,
    },
    /// Longer than Kubernetes or the operator allows.
    #[error(
        "the {what} `{name}` has {len} characters, more than {max}{why}: pass a shorter --name"
    )]
    TooLong {
        /// What the name names.
        what: &'static str,
        /// The refused name.
        name: String,
        /// Its length.
        len: usize,
        /// The most allowed.
        max: usize,
        /// Why that is the most (the operator's Service suffix).
        why: &'static str,
    },
}

/// Checks a cluster name (`--name`): a DNS-1123 label of at most [`MAX_CLUSTER_NAME`] characters.
///
/// # Errors
///
/// [`NameError`] saying what is wrong and suggesting a valid name.
pub(crate) fn check_cluster_name(name: &str) -> Result<(), NameError> {
    check(
        "cluster name",
        name,
        MAX_CLUSTER_NAME,
        " (the operator's limit: the scheduler Service is `<name>-scheduler`)",
    )
}

/// Checks a namespace: a DNS-1123 label.
///
/// # Errors
///
/// [`NameError`] saying what is wrong.
pub(crate) fn check_namespace(name: &str) -> Result<(), NameError> {
    check("namespace", name, MAX_LABEL, "")
}

fn check(what: &'static str, name: &str, max: usize, why: &'static str) -> Result<(), NameError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let valid_ends = name
        .bytes()
        .next()
        .zip(name.bytes().last())
        .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
    if !valid_chars || !valid_ends {
        let suggestion = sanitize(name, max);
        return Err(NameError::Invalid {
            what,
            name: name.to_string(),
            suggestion: if suggestion.is_empty() {
                "my-task".into()
            } else {
                suggestion
            },
        });
    }
    if name.len() > max {
        return Err(NameError::TooLong {
            what,
            name: name.to_string(),
            len: name.len(),
            max,
            why,
        });
    }
    Ok(())
}

/// The cluster name derived from a component and a function when no `--name` is given:
/// `<stem>-<function>`, lowercased, every other character run turned into one `-`, cut to
/// 53 (the operator's limit). Empty only when neither has a letter or digit.
pub fn default_cluster_name(component_stem: &str, function: &str) -> String {
    sanitize(&format!("{component_stem}-{function}"), MAX_CLUSTER_NAME)
}

fn sanitize(text: &str, max: usize) -> String {
    let mut name = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(max);
    name.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_valid_labels() {
        assert_eq!(
            default_cluster_name("wasmdask_example", "sum-of-squares"),
            "wasmdask-example-sum-of-squares"
        );
        assert_eq!(default_cluster_name("My Tasks!", "--x__Y"), "my-tasks-x-y");
        let long = default_cluster_name(&"a".repeat(50), "function-name");
        assert_eq!(long.len(), 53);
        check_cluster_name(&long).unwrap();
        // Cut at a separator: no trailing `-`.
        assert_eq!(default_cluster_name(&"b".repeat(52), "x"), "b".repeat(52));
        assert_eq!(default_cluster_name("_", "."), "");
    }

    #[test]
    fn bad_names_are_refused_with_a_reason() {
        check_cluster_name("job-1").unwrap();
        let e = check_cluster_name(&"a".repeat(54)).unwrap_err().to_string();
        assert!(
            e.contains("54 characters, more than 53") && e.contains("-scheduler"),
            "{e}"
        );
        for bad in ["Job", "-job", "job-", "job_1", "", "jöb"] {
            let e = check_cluster_name(bad).unwrap_err().to_string();
            assert!(e.contains("not a DNS-1123 label"), "{bad}: {e}");
        }
        let e = check_cluster_name("My_Job").unwrap_err().to_string();
        assert!(e.contains("e.g. `my-job`"), "{e}");
        check_namespace(&"n".repeat(63)).unwrap();
        assert!(check_namespace(&"n".repeat(64)).is_err());
    }
}
