//! Undo steps for multi-step operations: each step that changed something pushes its
//! undo; on failure they run in reverse order, every one of them, and their own failures
//! are logged rather than masking the error that caused the rollback.

use std::future::Future;
use std::pin::Pin;

type Undo = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A stack of undo steps. Dropping it without [`Rollback::run`] forgets them: the
/// operation succeeded.
#[derive(Default)]
pub(crate) struct Rollback {
    steps: Vec<(String, Undo)>,
}

impl Rollback {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Pushes an undo step. The future does nothing until the rollback runs.
    pub(crate) fn push<F, E>(&mut self, what: impl Into<String>, undo: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.steps.push((
            what.into(),
            Box::pin(async move { undo.await.map_err(|e| e.to_string()) }),
        ));
    }

    /// Runs every undo step in reverse order.
    pub(crate) async fn run(self, cause: &(impl std::fmt::Display + Sync)) {
        for (what, undo) in self.steps.into_iter().rev() {
            match undo.await {
                Ok(()) => tracing::debug!(step = %what, %cause, "rolled back"),
                Err(e) => tracing::error!(step = %what, error = %e, %cause, "rollback step failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test]
    async fn runs_every_step_in_reverse_even_after_a_failure() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut rb = Rollback::new();
        for i in 0..3 {
            let log = log.clone();
            rb.push(format!("step {i}"), async move {
                log.lock().unwrap().push(i);
                if i == 1 { Err("boom") } else { Ok(()) }
            });
        }
        rb.run(&"test").await;
        assert_eq!(*log.lock().unwrap(), [2, 1, 0]);
    }

    #[tokio::test]
    async fn dropping_forgets_the_steps() {
        let log = Arc::new(Mutex::new(Vec::<i32>::new()));
        let mut rb = Rollback::new();
        let l = log.clone();
        rb.push("step", async move {
            l.lock().unwrap().push(1);
            Ok::<_, String>(())
        });
        drop(rb);
        assert!(log.lock().unwrap().is_empty());
    }
}
