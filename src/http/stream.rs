//! A connection stream that the request handler can cut off from further reads.
//!
//! async-h1 reads and discards whatever request body a handler left unread before it looks
//! at `Connection: close`. For a refused oversized body that would mean reading gigabytes
//! from a hostile client; once `abort` is set, reads end at once and the connection closes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

#[derive(Clone)]
pub struct AbortableStream<S> {
    inner: S,
    abort: Arc<AtomicBool>,
}

impl<S> AbortableStream<S> {
    pub fn new(inner: S) -> Self {
        AbortableStream {
            inner,
            abort: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A handle that stops further reads when set.
    pub fn abort_handle(&self) -> Arc<AtomicBool> {
        self.abort.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AbortableStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.abort.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(0));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AbortableStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
