//! The cluster token from a Kubernetes Secret, for `render` and `serialize` alike.
//!
//! A scheduler pod listens beyond loopback, so it refuses to start without `WASMDASK_TOKEN`,
//! and workers and the runner must present the same value. The Dask spec gives its pods no
//! extra args, so every container takes the token from the environment, through a
//! `secretKeyRef` — never a literal, which would end up in the TaskTemplate or the DaskJob for
//! anyone who can read those.

use k8s_openapi::api::core::v1::{Container, EnvVar, EnvVarSource, PodSpec, SecretKeySelector};
use serde_json::Value;

use wasmdask_cluster::address::TOKEN_ENV;
use wasmdask_flyte::pod_template::{PRIMARY_CONTAINER, PodTemplate};

/// `--token-secret`'s default: the Secret `wasmdask-token`, key `token`, as the README's
/// `kubectl create secret generic wasmdask-token --from-literal=token=…` makes it.
pub const DEFAULT_TOKEN_SECRET: &str = "wasmdask-token/token";

/// The key used when `--token-secret` names only the Secret.
const DEFAULT_KEY: &str = "token";

/// The longest Secret name (a DNS-1123 subdomain) or key.
const MAX_LEN: usize = 253;

/// Where every container reads `WASMDASK_TOKEN` from: a key of a Secret in the pods' namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSecret {
    /// The Secret's name.
    pub name: String,
    /// The key within it.
    pub key: String,
}

/// A `--token-secret` value Kubernetes would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenSecretError {
    /// Not a DNS-1123 subdomain.
    #[error(
        "`{0}` is not a Secret name: use at most 253 lowercase letters, digits, `-` and `.`, \
         starting and ending with a letter or digit (e.g. `wasmdask-token`)"
    )]
    Name(String),
    /// Not a valid data key.
    #[error(
        "`{0}` is not a Secret key: use at most 253 letters, digits, `-`, `_` and `.` \
         (e.g. `token`); write the flag as NAME or NAME/KEY"
    )]
    Key(String),
}

impl TokenSecret {
    /// Parses `--token-secret`: `NAME` (key `token`) or `NAME/KEY`; `""` is `None`, no token
    /// (for a scheduler that only listens on loopback, or a token set some other way).
    ///
    /// # Errors
    ///
    /// A name or key Kubernetes would refuse, naming which and why.
    pub fn parse_flag(text: &str) -> Result<Option<TokenSecret>, TokenSecretError> {
        if text.is_empty() {
            return Ok(None);
        }
        let (name, key) = text.split_once('/').unwrap_or((text, DEFAULT_KEY));
        let name_ok = name.len() <= MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && name
                .bytes()
                .next()
                .zip(name.bytes().last())
                .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
        if !name_ok {
            return Err(TokenSecretError::Name(name.into()));
        }
        let key_ok = !key.is_empty()
            && key.len() <= MAX_LEN
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !key_ok {
            return Err(TokenSecretError::Key(key.into()));
        }
        Ok(Some(TokenSecret {
            name: name.into(),
            key: key.into(),
        }))
    }

    /// `WASMDASK_TOKEN` from the Secret's key.
    pub(crate) fn env_var(&self) -> EnvVar {
        EnvVar {
            name: TOKEN_ENV.into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: self.name.clone(),
                    key: self.key.clone(),
                    ..SecretKeySelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }
    }

    /// The pod template `serialize` gives a task: a primary container with only the token.
    /// Flyte merges the task's container into it, and its Dask plugin makes the runner,
    /// scheduler and workers from the result, so all three get the token.
    pub fn pod_template(&self) -> PodTemplate {
        let spec = PodSpec {
            containers: vec![Container {
                name: PRIMARY_CONTAINER.into(),
                env: Some(vec![self.env_var()]),
                ..Container::default()
            }],
            ..PodSpec::default()
        };
        let Ok(Value::Object(pod_spec)) = serde_json::to_value(spec) else {
            unreachable!("a PodSpec serializes to a JSON object")
        };
        PodTemplate {
            pod_spec,
            primary_container_name: PRIMARY_CONTAINER.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Option<TokenSecret>, TokenSecretError> {
        TokenSecret::parse_flag(text)
    }

    #[test]
    fn name_and_optional_key() {
        let secret = |name: &str, key: &str| {
            Ok(Some(TokenSecret {
                name: name.into(),
                key: key.into(),
            }))
        };
        assert_eq!(
            parse(DEFAULT_TOKEN_SECRET),
            secret("wasmdask-token", "token")
        );
        assert_eq!(parse("team.secrets"), secret("team.secrets", "token"));
        assert_eq!(parse("s/API_key.v2"), secret("s", "API_key.v2"));
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn names_and_keys_kubernetes_refuses() {
        for bad in ["Wasmdask", "-s", "s.", "s_1", "/token", &"s".repeat(254)] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, TokenSecretError::Name(_)), "{bad}: {e}");
            assert!(e.to_string().contains("not a Secret name"), "{e}");
        }
        for bad in ["s/", "s/a/b", "s/a b"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("not a Secret key") && e.contains("NAME/KEY"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_pod_template_holds_only_the_secret_reference() {
        let secret = parse("team/api").unwrap().unwrap();
        let template = secret.pod_template();
        assert_eq!(template.primary_container_name, "primary");
        assert_eq!(
            Value::Object(template.pod_spec),
            json!({"containers": [{
                "name": "primary",
                "env": [{
                    "name": "WASMDASK_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": "team", "key": "api"}},
                }],
            }]})
        );
    }
}
