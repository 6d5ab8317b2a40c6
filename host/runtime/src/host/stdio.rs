//! A driver's stdout and stderr, line by line into the host's log. Unlike an in-memory
//! pipe it never fills up (a full pipe makes a Rust guest's `eprintln!` panic).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::engine::lock;

/// The longest line kept whole; longer ones are logged in pieces.
const MAX_LINE: usize = 4096;

/// Lines of stderr kept for a trap report: a Rust panic takes three (where, what, and
/// a note about backtraces).
const TAIL_LINES: usize = 4;

/// The last lines a driver wrote to stderr, shared with the code that reports traps.
#[derive(Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<std::collections::VecDeque<String>>>);

impl Tail {
    /// The kept lines as one, without Rust's backtrace hint; empties the tail.
    pub(crate) fn take(&self) -> String {
        let lines = std::mem::take(&mut *lock(&self.0));
        lines
            .into_iter()
            .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn push(&self, line: &str) {
        let mut lines = lock(&self.0);
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line.chars().take(512).collect());
    }
}

/// Which stream.
#[derive(Clone, Copy)]
pub(crate) enum Which {
    Stdout,
    Stderr,
}

/// A log-backed output stream.
#[derive(Clone)]
pub(crate) struct LogStream {
    driver: Arc<str>,
    which: Which,
    tail: Option<Tail>,
    budget: Arc<super::LogBudget>,
    /// Shared by every stream handle the guest opens, so a line written in fragments
    /// through several handles is still one line.
    buf: Arc<Mutex<Vec<u8>>>,
}

impl LogStream {
    pub(crate) fn new(
        driver: Arc<str>,
        which: Which,
        tail: Option<Tail>,
        budget: Arc<super::LogBudget>,
    ) -> Self {
        LogStream {
            driver,
            which,
            tail,
            budget,
            buf: Arc::default(),
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        let driver = &*self.driver;
        // The tail keeps the last words for a trap's message even when the log drops
        // them.
        if self.budget.admit() {
            match self.which {
                Which::Stdout => tracing::info!(driver, stream = "stdout", "{line}"),
                Which::Stderr => tracing::warn!(driver, stream = "stderr", "{line}"),
            }
        }
        if let Some(tail) = &self.tail {
            tail.push(line);
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut buf = lock(&self.buf);
        buf.extend_from_slice(&bytes);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            self.emit(&line[..line.len() - 1]);
        }
        while buf.len() > MAX_LINE {
            let piece: Vec<u8> = buf.drain(..MAX_LINE).collect();
            self.emit(&piece);
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}
