//! What the loopback proxy and the replaying endpoint share: the HTTP/1 server on a loopback port,
//! and a seeded, repeatable source of random choices (latency jitter, faults).

use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Answers every connection `listener` accepts with `handler`, until the returned task is
/// aborted. Each connection is kept alive and served on a task of its own.
pub(crate) fn serve<S, H, Fut, E>(
    listener: TcpListener,
    state: Arc<S>,
    handler: H,
) -> tokio::task::JoinHandle<()>
where
    S: Send + Sync + 'static,
    H: Fn(Arc<S>, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handler(state.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// `name`'s value in a form (`a=1&b=x%2Fy`), decoded.
pub(crate) fn form_param(form: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(form.as_bytes()).find_map(|(k, v)| (k == name).then(|| v.into_owned()))
}

/// A form value, percent-decoded (`+` is a space).
pub(crate) fn form_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// A path segment, percent-decoded (`+` is itself).
pub(crate) fn path_decode(s: &str) -> String {
    form_decode(&s.replace('+', "%2B"))
}

/// xorshift64*: a small, seeded, repeatable source of choices in `[0, 1)`.
#[derive(Debug)]
pub(crate) struct Choices(Mutex<u64>);

impl Choices {
    pub(crate) fn new(seed: u64) -> Choices {
        Choices(Mutex::new(seed.max(1)))
    }

    pub(crate) fn next(&self) -> f64 {
        let Ok(mut s) = self.0.lock() else {
            return 1.0;
        };
        let mut x = *s;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *s = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}
