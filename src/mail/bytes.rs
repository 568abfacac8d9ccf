//! A message's bytes as protocols receive them: a shared, read-only buffer and a range of
//! it, so that a FETCH or RETR reply hands the bytes on to TLS without a copy per message
//! ([`MessageBytes::slice`] shares the buffer). Names no store: whoever owns the bytes
//! (the store's segment read buffer, a test's `Vec`) provides a buffer. Never does IO.

use std::fmt;
use std::ops::{Deref, Range};
use std::rc::Rc;

/// Message bytes, or a part of them: cheap to clone and to slice, never copied.
///
/// Not `Send` (an `Rc`): the buffer belongs to the shard that read it (the store's read
/// buffers are the shard's own). A session consumes the reply that carries it at once and
/// never keeps it, so a session stays movable between shards.
#[derive(Clone)]
pub struct MessageBytes {
    buffer: Rc<dyn AsRef<[u8]>>,
    range: Range<usize>,
}

impl MessageBytes {
    /// All of `buffer`, shared from now on.
    pub fn new(buffer: impl AsRef<[u8]> + 'static) -> MessageBytes {
        let range = 0..buffer.as_ref().len();
        MessageBytes {
            buffer: Rc::new(buffer),
            range,
        }
    }

    /// `len` bytes from `start`, clamped to these bytes; shares the buffer.
    pub fn slice(&self, start: usize, len: usize) -> MessageBytes {
        let start = start.min(self.len());
        let len = len.min(self.len() - start);
        let from = self.range.start + start;
        MessageBytes {
            buffer: self.buffer.clone(),
            range: from..from + len,
        }
    }
}

impl From<Vec<u8>> for MessageBytes {
    fn from(data: Vec<u8>) -> MessageBytes {
        MessageBytes::new(data)
    }
}

impl Deref for MessageBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // The range was within the buffer when made, and the buffer is read-only.
        &(*self.buffer).as_ref()[self.range.clone()]
    }
}

impl fmt::Debug for MessageBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageBytes({} bytes)", self.len())
    }
}

impl PartialEq for MessageBytes {
    fn eq(&self, other: &MessageBytes) -> bool {
        **self == **other
    }
}

impl Eq for MessageBytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_buffer_and_clamp() {
        let whole = MessageBytes::from(b"0123456789".to_vec());
        let mid = whole.slice(2, 5);
        assert_eq!(&*mid, b"23456");
        assert_eq!(&*mid.slice(3, 100), b"56");
        assert_eq!(&*mid.slice(9, 1), b"");
        assert!(std::ptr::eq(&whole[2], &mid[0]));
    }
}
