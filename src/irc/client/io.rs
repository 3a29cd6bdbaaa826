//! A connection's reader task, which decodes bounded lines into a bounded queue (a full queue
//! is excess flood). Writing is the connection's own task's (see [`super::flow::SendQ`]).

use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

use super::super::proto::codec::{Line, LineCodec};

/// The read buffer a connection starts with (it grows for a longer line): per-connection
/// memory is what bounds how many users one gateway holds.
const READ_START: usize = 1024;

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
