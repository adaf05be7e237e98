//! Listeners: the Unix socket (0600, the default) and an optional loopback TCP port that
//! requires a bearer token. Both serve the ctx API, gRPC health and reflection.

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use ctx_proto::v1::context_service_server::ContextServiceServer;
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::{Request, Status};

use crate::DaemonError;
use crate::service::ContextApi;

/// Largest message the daemon sends or accepts (a 1M-token context is ~5 MB of text, twice).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> DaemonError {
    move |source| DaemonError::Io { what, source }
}

/// Binds the Unix socket at `path`: creates its directory (0700 when ctx creates it), refuses
/// to start when another daemon answers there, replaces a stale socket, and makes the socket
/// 0600 so only its owner can talk to the daemon.
pub async fn bind_unix(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        std::fs::create_dir_all(parent).map_err(io_error(format!(
            "create socket directory {}",
            parent.display()
        )))?;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700)).map_err(
            io_error(format!("restrict socket directory {}", parent.display())),
        )?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(DaemonError::InvalidArgument(format!(
                "socket path {} exists and is not a socket; refusing to replace it",
                path.display()
            )));
        }
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(DaemonError::AlreadyRunning(path.to_path_buf()));
        }
        std::fs::remove_file(path)
            .map_err(io_error(format!("remove stale socket {}", path.display())))?;
    }
    let listener =
        UnixListener::bind(path).map_err(io_error(format!("bind socket {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_error(format!("set mode 0600 on {}", path.display())))?;
    Ok(listener)
}

/// Checks `authorization: Bearer <token>` in constant time.
#[derive(Clone)]
pub struct TokenCheck {
    token: Arc<Vec<u8>>,
}

impl TokenCheck {
    pub fn new(token: String) -> Self {
        TokenCheck {
            token: Arc::new(token.into_bytes()),
        }
    }

    fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        if given.len() != self.token.len() {
            return false;
        }
        given
            .iter()
            .zip(self.token.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        if self.accepts(header) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong bearer token (set `authorization: Bearer <token>`)",
            ))
        }
    }
}

fn context_server(api: ContextApi) -> ContextServiceServer<ContextApi> {
    ContextServiceServer::new(api)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

fn reflection() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    DaemonError,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ctx_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| DaemonError::Internal(format!("reflection service: {e}")))
}

/// Serves the API on a Unix socket until `shutdown` resolves.
pub async fn serve_unix(
    listener: UnixListener,
    api: ContextApi,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DaemonError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<ContextServiceServer<ContextApi>>()
        .await;
    Server::builder()
        .add_service(health)
        .add_service(reflection()?)
        .add_service(context_server(api))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await
        .map_err(|e| DaemonError::Internal(format!("unix socket server: {e}")))
}

/// Serves the API on a loopback TCP listener, every call requiring the bearer token.
pub async fn serve_tcp(
    listener: TcpListener,
    api: ContextApi,
    token: TokenCheck,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DaemonError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<ContextServiceServer<ContextApi>>()
        .await;
    Server::builder()
        .add_service(InterceptedService::new(health, token.clone()))
        .add_service(InterceptedService::new(reflection()?, token.clone()))
        .add_service(InterceptedService::new(context_server(api), token))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(|e| DaemonError::Internal(format!("tcp server: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_check_needs_the_exact_bearer_token() {
        let check = TokenCheck::new("s3cret".into());
        assert!(check.accepts(Some(b"Bearer s3cret")));
        assert!(!check.accepts(Some(b"Bearer s3cre")));
        assert!(!check.accepts(Some(b"Bearer s3cretX")));
        assert!(!check.accepts(Some(b"s3cret")));
        assert!(!check.accepts(None));
    }
}
