//! A connection's two I/O tasks: the writer, which sends what the send queue holds (batching
//! what is already queued into one write), and the reader, which decodes bounded lines into a
//! bounded queue (a full queue is excess flood).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

use super::super::proto::codec::{Line, LineCodec};

/// The write buffer a connection keeps between bursts (a larger one is let go), and the read
/// buffer it starts with (it grows for a longer line): per-connection memory is what bounds
/// how many users one gateway holds.
const WRITE_KEEP: usize = 2048;
const READ_START: usize = 1024;

/// At most this much is gathered into one write.
const WRITE_BATCH: usize = 16 * 1024;

/// Writes the lines of `rx` to `wr`, taking each one's bytes off `queued` once written; shuts
/// the stream down when the queue closes or a write fails.
pub(super) fn spawn_writer<W: AsyncWrite + Send + Unpin + 'static>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<String>,
    queued: Arc<AtomicUsize>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = Vec::new();
        while let Some(line) = rx.recv().await {
            // An idle connection keeps no large buffer: one left by a burst is let go.
            if buf.capacity() > WRITE_KEEP {
                buf = Vec::new();
            }
            buf.clear();
            let mut n = line.len() + 2;
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(b"\r\n");
            // Batch what is already queued into one write.
            while buf.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(more) => {
                        n += more.len() + 2;
                        buf.extend_from_slice(more.as_bytes());
                        buf.extend_from_slice(b"\r\n");
                    }
                    Err(_) => break,
                }
            }
            // A TLS stream may keep part of what it accepted until flushed (the socket would
            // have blocked): without the flush, the lines could wait for the next write.
            if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
                break;
            }
            queued.fetch_sub(n, Ordering::Relaxed);
        }
        let _ = wr.shutdown().await;
    })
}

/// Reads lines from `rd` into a queue of `depth`; when the queue is full the reader stops
/// and says so on the second channel (excess flood).
pub(super) fn spawn_reader<R: AsyncRead + Send + Unpin + 'static>(
    rd: R,
    depth: usize,
) -> (JoinHandle<()>, mpsc::Receiver<Line>, mpsc::Receiver<()>) {
    let (line_tx, line_rx) = mpsc::channel::<Line>(depth);
    let (flood_tx, flood_rx) = mpsc::channel::<()>(1);
    let reader = tokio::spawn(async move {
        let mut framed = FramedRead::with_capacity(rd, LineCodec::default(), READ_START);
        while let Some(Ok(line)) = framed.next().await {
            if line_tx.try_send(line).is_err() {
                let _ = flood_tx.try_send(());
                return;
            }
        }
    });
    (reader, line_rx, flood_rx)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, BufReader, BufWriter};

    use super::*;

    /// A stream that keeps what it accepted until flushed (as a TLS session does when the
    /// socket would block) gets every line all the same, without a later write to push it.
    #[tokio::test]
    async fn a_line_is_flushed_not_left_for_the_next_write() {
        let (near, far) = tokio::io::duplex(64 * 1024);
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        let queued = Arc::new(AtomicUsize::new(0));
        queued.fetch_add("PING :x".len() + 2, Ordering::Relaxed);
        let _writer = spawn_writer(BufWriter::new(near), rx, queued.clone());
        assert!(tx.send("PING :x".into()).is_ok());
        let mut lines = BufReader::new(far).lines();
        let got = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await;
        assert!(
            matches!(&got, Ok(Ok(Some(l))) if l == "PING :x"),
            "the line stayed in the stream's buffer: {got:?}"
        );
        assert_eq!(queued.load(Ordering::Relaxed), 0);
    }
}
