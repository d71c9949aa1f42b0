//! Password checks on a few threads of their own. argon2 takes ~19 MiB and a core for tens
//! of milliseconds per check. Run on tokio's blocking pool, a flood of logins would run
//! hundreds at once, and since the allocator keeps each thread's freed memory for that
//! thread, the process would stay gigabytes large afterwards. Here at most one check per
//! core runs; the others wait in a queue that costs a few bytes each.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce() + Send>;

pub struct PasswordChecks {
    jobs: mpsc::Sender<Job>,
}

/// Checks waiting for a thread, beyond which callers wait to be queued.
const QUEUE: usize = 1024;

impl PasswordChecks {
    pub fn new(threads: usize) -> PasswordChecks {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("berth-password-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let next = queue
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .blocking_recv();
                        match next {
                            Some(job) => job(),
                            None => return, // the registry is shutting down
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password-check thread");
            }
        }
        PasswordChecks { jobs }
    }

    /// Runs `check` on one of the threads; `false` if it could not run.
    pub async fn run(&self, check: impl FnOnce() -> bool + Send + 'static) -> bool {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // Nobody waits for it any more (the request went away): save the core.
            if !done.is_closed() {
                let _ = done.send(check());
            }
        });
        if self.jobs.send(job).await.is_err() {
            return false;
        }
        result.await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_checks_and_returns_their_verdict() {
        let checks = PasswordChecks::new(2);
        assert!(checks.run(|| true).await);
        assert!(!checks.run(|| false).await);
        let many: Vec<_> = (0..20).map(|i| checks.run(move || i % 2 == 0)).collect();
        let verdicts = futures_util::future::join_all(many).await;
        assert_eq!(verdicts.iter().filter(|v| **v).count(), 10);
    }
}
