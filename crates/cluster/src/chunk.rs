//! Large values cross the wire in chunks, so no gRPC message grows with the data.
//!
//! A [`proto::Call`] (its arguments) or [`proto::Result`] (its value) whose payload is larger
//! than [`CHUNK_BYTES`] is sent as several messages with the same key, every one but the last
//! marked `more`; [`batches`] also groups messages so that one batch carries about one chunk of
//! payload. The receiving end of each stream puts the pieces back together with a [`Joiner`]
//! before anything else looks at them, so the scheduler's state machine, the pool and the
//! waiting guests only ever see whole values. Pieces are `Bytes` slices of the original value:
//! splitting copies nothing.

use crate::proto;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;

/// The payload bytes of one message.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// HTTP/2 receive windows of every connection of the cluster (scheduler, workers, clients and
/// the data plane). The defaults (64 KiB to 2 MiB) make a sender stop every window's worth of
/// bytes until the receiver's WINDOW_UPDATE comes back: an 8 MB value took several round trips
/// and thread wake-ups on each side. A window of several values lets one stream through.
pub(crate) const STREAM_WINDOW_BYTES: u32 = 32 << 20;
/// See [`STREAM_WINDOW_BYTES`]: the connection's window covers a few streams at full speed.
pub(crate) const CONNECTION_WINDOW_BYTES: u32 = 128 << 20;

/// A message whose payload may be chunked.
pub(crate) trait Chunked: Sized {
    fn key(&self) -> u64;
    fn more(&self) -> bool;
    /// The payload (a call's arguments, a result's value); empty when there is none.
    fn payload(&self) -> &Bytes;
    /// This message with `payload` and `more` replaced.
    fn with_payload(&self, payload: Bytes, more: bool) -> Self;
}

impl Chunked for proto::Call {
    fn key(&self) -> u64 {
        self.key
    }

    fn more(&self) -> bool {
        self.more
    }

    fn payload(&self) -> &Bytes {
        &self.args
    }

    fn with_payload(&self, args: Bytes, more: bool) -> Self {
        proto::Call {
            args,
            more,
            ..self.clone_header()
        }
    }
}

impl proto::Call {
    /// Everything but the arguments (cheap: the arguments are the only large part).
    fn clone_header(&self) -> Self {
        proto::Call {
            key: self.key,
            digest: self.digest.clone(),
            function: self.function.clone(),
            args: Bytes::new(),
            depth: self.depth,
            more: self.more,
            // Small (keys and addresses), so every chunk carries them and the joiner keeps the
            // last chunk's.
            inputs: self.inputs.clone(),
        }
    }
}

static NO_VALUE: Bytes = Bytes::from_static(&[]);

impl Chunked for proto::Result {
    fn key(&self) -> u64 {
        self.key
    }

    fn more(&self) -> bool {
        self.more
    }

    fn payload(&self) -> &Bytes {
        match &self.outcome {
            Some(proto::result::Outcome::Value(value)) => value,
            _ => &NO_VALUE,
        }
    }

    fn with_payload(&self, value: Bytes, more: bool) -> Self {
        match &self.outcome {
            Some(proto::result::Outcome::Value(_)) => proto::Result {
                key: self.key,
                outcome: Some(proto::result::Outcome::Value(value)),
                output: self.output.clone(),
                more,
                missing: self.missing.clone(),
            },
            // Only values are chunked; an error is small and sent whole.
            _ => self.clone(),
        }
    }
}

/// Splits oversized messages into chunks and groups messages into batches of about
/// [`CHUNK_BYTES`] of payload each (a batch has at least one message), in order.
pub(crate) fn batches<T: Chunked>(messages: Vec<T>) -> Vec<Vec<T>> {
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    let mut size = 0;
    let mut push = |message: T, len: usize, batches: &mut Vec<Vec<T>>| {
        if !batch.is_empty() && size + len > CHUNK_BYTES {
            batches.push(std::mem::take(&mut batch));
            size = 0;
        }
        size += len;
        batch.push(message);
    };
    for message in messages {
        let payload = message.payload().clone();
        if payload.len() <= CHUNK_BYTES {
            push(message, payload.len(), &mut batches);
            continue;
        }
        let mut start = 0;
        while start < payload.len() {
            let end = (start + CHUNK_BYTES).min(payload.len());
            let piece = message.with_payload(payload.slice(start..end), end < payload.len());
            push(piece, end - start, &mut batches);
            start = end;
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

/// Puts the chunks of one stream back together: calls and results have separate keys.
#[derive(Debug, Default)]
pub(crate) struct Joiners {
    calls: Joiner,
    results: Joiner,
}

impl Joiners {
    /// The whole calls among `calls`.
    pub(crate) fn calls(&mut self, calls: Vec<proto::Call>) -> Vec<proto::Call> {
        self.calls.join(calls)
    }

    /// The whole results among `results`.
    pub(crate) fn results(&mut self, results: Vec<proto::Result>) -> Vec<proto::Result> {
        self.results.join(results)
    }
}

/// Puts the chunks of one kind of message back together.
#[derive(Debug, Default)]
struct Joiner {
    partial: HashMap<u64, BytesMut>,
}

impl Joiner {
    /// The whole messages among `messages`: unchunked ones as they are, chunked ones once their
    /// last piece has arrived.
    fn join<T: Chunked>(&mut self, messages: Vec<T>) -> Vec<T> {
        let mut whole = Vec::with_capacity(messages.len());
        for message in messages {
            let key = message.key();
            if message.more() {
                self.partial
                    .entry(key)
                    .or_default()
                    .extend_from_slice(message.payload());
                continue;
            }
            match self.partial.remove(&key) {
                None => whole.push(message),
                Some(mut joined) => {
                    joined.extend_from_slice(message.payload());
                    whole.push(message.with_payload(joined.freeze(), false));
                }
            }
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(key: u64, len: usize) -> proto::Call {
        proto::Call {
            key,
            digest: "sha256:x".into(),
            function: "f".into(),
            args: (0..len).map(|i| i as u8).collect::<Vec<_>>().into(),
            depth: 2,
            more: false,
            inputs: Vec::new(),
        }
    }

    #[test]
    fn small_messages_share_a_batch_and_large_ones_are_chunked() {
        let messages = vec![call(1, 10), call(2, 3 * CHUNK_BYTES + 5), call(3, 0)];
        let batches = batches(messages.clone());
        let sizes: Vec<Vec<(u64, usize, bool)>> = batches
            .iter()
            .map(|b| b.iter().map(|c| (c.key, c.args.len(), c.more)).collect())
            .collect();
        assert_eq!(
            sizes,
            vec![
                vec![(1, 10, false)],
                vec![(2, CHUNK_BYTES, true)],
                vec![(2, CHUNK_BYTES, true)],
                vec![(2, CHUNK_BYTES, true)],
                vec![(2, 5, false), (3, 0, false)],
            ]
        );
        let mut joiner = Joiner::default();
        let whole: Vec<proto::Call> = batches
            .into_iter()
            .flat_map(|batch| joiner.join(batch))
            .collect();
        assert_eq!(whole, messages);
        assert!(joiner.partial.is_empty());
    }

    #[test]
    fn interleaved_chunks_of_two_values_join_by_key() {
        let (a, b) = (call(1, 2 * CHUNK_BYTES + 1), call(2, CHUNK_BYTES + 7));
        let mut pieces: Vec<proto::Call> = batches(vec![a.clone()]).into_iter().flatten().collect();
        let other: Vec<proto::Call> = batches(vec![b.clone()]).into_iter().flatten().collect();
        pieces.insert(1, other[0].clone());
        pieces.push(other[1].clone());
        let mut joiner = Joiner::default();
        let whole = joiner.join(pieces);
        assert_eq!(whole, vec![a, b]);
    }

    #[test]
    fn errors_are_never_chunked() {
        let error = proto::Result::from_outcome(
            4,
            Err(wasmdask_sandbox::TaskError::new(
                wasmdask_sandbox::ErrorKind::Trap,
                "x".repeat(3 * CHUNK_BYTES),
            )),
        );
        let batches = batches(vec![error.clone()]);
        assert_eq!(batches, vec![vec![error]]);
    }
}
