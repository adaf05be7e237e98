//! Rust client library for the ctx daemon.
//!
//! Connects over the daemon's Unix socket (the default) or over loopback TCP with a bearer
//! token, and exposes the generated `ctx.v1` client with sane message-size limits.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ctx_client::ClientError> {
//! let mut client = ctx_client::Client::connect_unix("/run/user/1000/ctx/ctxd.sock").await?;
//! let response = client
//!     .api()
//!     .grab_everything_related(ctx_client::pb::GrabRequest {
//!         query: "Acme renewal".into(),
//!         token_budget: 8192,
//!         filters: None,
//!         ..Default::default()
//!     })
//!     .await?
//!     .into_inner();
//! println!("{}", response.markdown);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use ctx_proto::v1::context_service_client::ContextServiceClient;
use hyper_util::rt::TokioIo;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Uri};

pub use ctx_proto::v1 as pb;

/// Largest message accepted from the daemon (a 1M-token context is several MB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot connect to ctxd at {path}: {source}\n  hint: is the daemon running? start it with `ctxd`, or try `ctx demo`"
    )]
    Unix {
        path: PathBuf,
        source: tonic::transport::Error,
    },
    #[error("cannot connect to ctxd at {url}: {source}")]
    Tcp {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("invalid address `{0}`")]
    Address(String),
    #[error("{}", describe_status(.0))]
    Status(#[from] tonic::Status),
    #[error("ctxd's stream ended early: {0}")]
    Incomplete(String),
}

fn describe_status(status: &tonic::Status) -> String {
    format!("ctxd answered {:?}: {}", status.code(), status.message())
}

/// Adds `authorization: Bearer <token>` when a token is set.
#[derive(Clone, Default)]
pub struct BearerToken(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The generated API client, with the bearer-token interceptor.
pub type Api = ContextServiceClient<InterceptedService<Channel, BearerToken>>;

/// A connection to ctxd.
#[derive(Clone)]
pub struct Client {
    api: Api,
    channel: Channel,
}

impl Client {
    fn from_channel(channel: Channel, token: BearerToken) -> Client {
        let api = ContextServiceClient::with_interceptor(channel.clone(), token)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Client { api, channel }
    }

    /// Connects over a Unix socket.
    pub async fn connect_unix(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref().to_path_buf();
        let connector_path = path.clone();
        // The URI is required by the HTTP/2 layer but unused: the connector ignores it.
        let channel = Endpoint::from_static("http://ctxd.local")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = connector_path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|source| ClientError::Unix { path, source })?;
        Ok(Client::from_channel(channel, BearerToken::default()))
    }

    /// Connects over TCP (`http://127.0.0.1:7878`) with a bearer token.
    pub async fn connect_tcp(url: &str, token: Option<&str>) -> Result<Client, ClientError> {
        let endpoint =
            Endpoint::from_shared(url.to_string()).map_err(|_| ClientError::Address(url.into()))?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ClientError::Tcp {
                url: url.to_string(),
                source,
            })?;
        let token = match token {
            Some(t) => {
                BearerToken(Some(format!("Bearer {t}").parse().map_err(|_| {
                    ClientError::Address("token is not valid ASCII".into())
                })?))
            }
            None => BearerToken::default(),
        };
        Ok(Client::from_channel(channel, token))
    }

    /// The generated client for every call of `ctx.v1.ContextService`.
    pub fn api(&mut self) -> &mut Api {
        &mut self.api
    }

    /// `GrabEverythingRelatedStream`: the packed items as the daemon renders them, then the
    /// summary. Errors of the request itself (a budget above the maximum, an unknown kind)
    /// come here, as from the unary call.
    pub async fn grab_stream(
        &mut self,
        request: pb::GrabRequest,
    ) -> Result<GrabStream, ClientError> {
        let inner = self
            .api
            .grab_everything_related_stream(request)
            .await?
            .into_inner();
        Ok(GrabStream { inner, done: false })
    }

    /// The underlying channel (for health checks or other services on the same connection).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }
}

/// One message of a [`GrabStream`].
#[derive(Debug, Clone, PartialEq)]
pub enum GrabEvent {
    /// A packed item and its rendering (`markdown`), in the unary call's order.
    Item(pb::GrabStreamItem),
    /// The totals, last.
    Summary(pb::GrabSummary),
}

/// A `GrabEverythingRelatedStream` call in progress. Dropping it cancels the call.
pub struct GrabStream {
    inner: tonic::Streaming<pb::GrabStreamMessage>,
    done: bool,
}

impl GrabStream {
    /// The next item, then the summary, then `None`. A stream that ends before its summary is
    /// an error ([`ClientError::Incomplete`]).
    pub async fn next(&mut self) -> Result<Option<GrabEvent>, ClientError> {
        if self.done {
            return Ok(None);
        }
        loop {
            let Some(message) = self.inner.message().await? else {
                self.done = true;
                return Err(ClientError::Incomplete("no summary".into()));
            };
            match message.message {
                Some(pb::grab_stream_message::Message::Item(item)) => {
                    return Ok(Some(GrabEvent::Item(item)));
                }
                Some(pb::grab_stream_message::Message::Summary(summary)) => {
                    self.done = true;
                    return Ok(Some(GrabEvent::Summary(summary)));
                }
                // A message kind of a newer daemon.
                None => continue,
            }
        }
    }

    /// Reads the whole stream into what the unary call returns: the items, their renderings
    /// concatenated as `markdown`, and the summary's totals.
    pub async fn collect(mut self) -> Result<pb::GrabResponse, ClientError> {
        let mut response = pb::GrabResponse::default();
        while let Some(event) = self.next().await? {
            match event {
                GrabEvent::Item(item) => {
                    response.markdown.push_str(&item.markdown);
                    response.items.extend(item.item);
                }
                GrabEvent::Summary(s) => {
                    if s.items as usize != response.items.len() {
                        return Err(ClientError::Incomplete(format!(
                            "{} items received, the summary says {}",
                            response.items.len(),
                            s.items
                        )));
                    }
                    response.tokens_used = s.tokens_used;
                    response.token_budget = s.token_budget;
                    response.candidates = s.candidates;
                    response.took_us = s.took_us;
                    response.cut = s.cut;
                    response.freshness = s.freshness;
                    response.tokenizer = s.tokenizer;
                }
            }
        }
        Ok(response)
    }
}
