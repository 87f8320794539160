//! Shared-token authentication for every RPC: `authorization: Bearer <token>` metadata, checked
//! by a server interceptor and attached by a client interceptor.

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Checks the token on the server side (or accepts everything when no token is configured).
#[derive(Debug, Clone)]
pub(crate) struct CheckToken(pub Option<String>);

impl Interceptor for CheckToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.0 else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given {
            Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(request),
            Some(_) => {
                tracing::warn!(peer = ?request.remote_addr(), "refused a connection with a wrong token");
                Err(Status::unauthenticated(
                    "wrong token: set the scheduler's token with --token or WASMDASK_TOKEN",
                ))
            }
            None => {
                tracing::warn!(peer = ?request.remote_addr(), "refused a connection without a token");
                Err(Status::unauthenticated(
                    "this scheduler requires a token: pass --token or set WASMDASK_TOKEN",
                ))
            }
        }
    }
}

/// Attaches the token on the client side.
#[derive(Debug, Clone)]
pub(crate) struct SendToken(pub Option<String>);

impl Interceptor for SendToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            let value = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
                Status::invalid_argument("the token has characters HTTP headers cannot carry")
            })?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
