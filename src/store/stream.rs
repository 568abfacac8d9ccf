//! A message received piece by piece (a large IMAP APPEND literal), accumulated directly in
//! the direct-IO buffer its log record is later written from: the message exists once in
//! memory, and the committer frames the record around it in place instead of copying it
//! into a batch. Never touches the log itself; nothing of a stream is on disk, or visible,
//! before [`crate::store::Store::append_stream`] commits it, so a stream that is dropped
//! (the connection closed, the command failed) leaves nothing behind and recovery never sees
//! a trace of it.

use super::io::{self, DmaBuffer};
use super::record;
use super::segment::BLOCK;
use super::types::{Result, StoreError};

/// Room left in front of the body for what the committer puts there: the start of the log's
/// last block (under [`BLOCK`]), the record header and the encoded op with its MIME summary.
/// A larger front (a summary of thousands of parts) falls back to one copy.
const HEADROOM: usize = 16 << 10;

/// The bytes of one message being received, in the buffer they will be written from.
pub struct AppendStream {
    buf: DmaBuffer,
    /// The announced size.
    len: usize,
    /// Bytes received so far, at `buf[HEADROOM..HEADROOM + filled]`.
    filled: usize,
}

impl AppendStream {
    /// A stream for a message of exactly `len` bytes.
    pub(super) fn new(len: usize) -> AppendStream {
        let size = (HEADROOM + len + BLOCK as usize).next_multiple_of(BLOCK as usize);
        AppendStream {
            // Not from the executor's registered pool: a stream lives as long as an upload.
            buf: io::dma_buffer(size),
            len,
            filled: 0,
        }
    }

    /// Add the next bytes of the message.
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if chunk.len() > self.len - self.filled {
            return Err(StoreError::TooLarge(self.filled + chunk.len()));
        }
        let at = HEADROOM + self.filled;
        self.buf.as_bytes_mut()[at..at + chunk.len()].copy_from_slice(chunk);
        self.filled += chunk.len();
        Ok(())
    }

    /// The announced size.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every announced byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.filled == self.len
    }

    /// The bytes received so far.
    pub fn body(&self) -> &[u8] {
        &self.buf.as_bytes()[HEADROOM..HEADROOM + self.filled]
    }

    /// Bytes of memory this stream holds (its buffer).
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Lay out, in this stream's own buffer, `before` (the start of the log block the record
    /// begins in), the record `header`, the op bytes `front` and the body (moved down in
    /// place to follow them), then zeros to the end of the block. Returns the buffer trimmed
    /// to whole blocks, ready to be written at the block's offset, and where the framed
    /// record ends in it.
    pub(super) fn into_record(
        mut self,
        before: &[u8],
        header: &[u8],
        front: &[u8],
    ) -> (DmaBuffer, usize) {
        let n = self.filled;
        let lead = before.len() + header.len() + front.len();
        let end = before.len() + record::framed_len(front.len() + n);
        let total = end.next_multiple_of(BLOCK as usize);
        let mut buf = if lead <= HEADROOM && total <= self.buf.len() {
            self.buf
                .as_bytes_mut()
                .copy_within(HEADROOM..HEADROOM + n, lead);
            self.buf
        } else {
            let mut buf = io::dma_buffer(total);
            buf.as_bytes_mut()[lead..lead + n].copy_from_slice(self.body());
            buf
        };
        let bytes = buf.as_bytes_mut();
        bytes[..before.len()].copy_from_slice(before);
        bytes[before.len()..before.len() + header.len()].copy_from_slice(header);
        bytes[before.len() + header.len()..lead].copy_from_slice(front);
        // Padding, and whatever the move left behind: after the end the log holds zeros.
        bytes[lead + n..total].fill(0);
        buf.trim_to_size(total);
        (buf, end)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stream_is_framed_in_its_own_buffer() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = AppendStream::new(body.len());
        for chunk in body.chunks(16 << 10) {
            s.write(chunk).unwrap();
        }
        assert!(s.is_complete());
        assert!(matches!(s.write(b"x"), Err(StoreError::TooLarge(_))));
        let before = vec![7u8; 1000];
        let mut chain = record::Chain::START;
        let (header, seq) = record::header(&mut chain, &[b"front", &body]);
        let ptr = s.buf.as_ptr();
        let (buf, end) = s.into_record(&before, &header, b"front");
        // The same memory: the body was never copied to another buffer.
        assert_eq!(buf.as_ptr(), ptr);
        let bytes = buf.as_bytes();
        assert_eq!(bytes.len() % BLOCK as usize, 0);
        assert_eq!(&bytes[..1000], &before[..]);
        let found: Vec<_> = record::Scanner::new(bytes, 1000, record::Chain::START).collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].seq, seq);
        assert_eq!(&found[0].payload[..5], b"front");
        assert_eq!(&found[0].payload[5..], &body[..]);
        assert_eq!(end, 1000 + record::framed_len(5 + body.len()));
        assert!(bytes[end..].iter().all(|&b| b == 0));
    }
}
