//! The `--token-secret` flag of the commands that write what a Flyte or Kubernetes cluster runs
//! (`serialize`, `render`): one definition, so both spell, default and parse it alike.

use clap::Args;
use wasmdask_k8s::{DEFAULT_TOKEN_SECRET, TokenSecret};

#[derive(Debug, Clone, Args)]
pub struct TokenSecretArg {
    /// The Secret every pod reads WASMDASK_TOKEN from: NAME (key `token`) or NAME/KEY; ""
    /// for none (then your own pod template must set it, or the scheduler will not start).
    // Spelled out as `::std::option::Option` so clap keeps the parser's `None` for "" instead
    // of reading the flag as optional.
    #[arg(
        long,
        value_name = "NAME[/KEY]",
        default_value = DEFAULT_TOKEN_SECRET,
        value_parser = TokenSecret::parse_flag
    )]
    pub token_secret: ::std::option::Option<TokenSecret>,
}
