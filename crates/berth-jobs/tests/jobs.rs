//! Two processes' worth of jobs on one SQLite database (what replicas on PostgreSQL do,
//! the metadata suite holds both engines to the same lease rules).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_jobs::{Cadence, Jobs};
use berth_meta::SqliteMeta;

async fn two_processes(dir: &std::path::Path) -> (Arc<Jobs>, Arc<Jobs>) {
    let path = dir.join("metadata.db");
    let a = Arc::new(SqliteMeta::open(&path).await.unwrap());
    let b = Arc::new(SqliteMeta::open(&path).await.unwrap());
    // Both in this process: the job table tells them apart by holder only.
    (
        Jobs::new(a, Duration::from_secs(2)),
        Jobs::for_holder(b, Duration::from_secs(2), "another/0/1/1"),
    )
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-jobs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A schedule both processes run: each due time runs once, never two at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_job_runs_once_per_due_time_across_processes() {
    let dir = temp_dir("schedule");
    let (a, b) = two_processes(&dir).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    for jobs in [&a, &b] {
        let (runs, running, overlaps) = (runs.clone(), running.clone(), overlaps.clone());
        jobs.schedule(
            "tick",
            Cadence::Every(Duration::from_millis(300)),
            Duration::ZERO,
            move || {
                let (runs, running, overlaps) = (runs.clone(), running.clone(), overlaps.clone());
                async move {
                    if running.fetch_add(1, Ordering::SeqCst) > 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    runs.fetch_add(1, Ordering::SeqCst);
                    running.fetch_sub(1, Ordering::SeqCst);
                }
            },
        );
    }
    let started = Instant::now();
    wait_for("five runs", || runs.load(Ordering::SeqCst) >= 5).await;
    let elapsed = started.elapsed();
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "runs overlapped");
    // Each run is 100 ms and the next is due 300 ms after it: five take at least 1.6 s
    // when they happen once per due time (twice as many would come in half of that).
    assert!(
        elapsed >= Duration::from_millis(1500),
        "five runs in {elapsed:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A worker on one process at a time; when its process shuts down the other takes over
/// at once (the lease is given back), and `exclusive` waits for a holder elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_singleton_moves_when_its_holder_stops_and_exclusive_waits() {
    let dir = temp_dir("singleton");
    let (a, b) = two_processes(&dir).await;
    let active = Arc::new(std::sync::Mutex::new(Vec::<&'static str>::new()));
    for (jobs, who) in [(&a, "a"), (&b, "b")] {
        let active = active.clone();
        jobs.singleton("worker", move || {
            let active = active.clone();
            async move {
                active.lock().unwrap().push(who);
                std::future::pending::<()>().await
            }
        });
    }
    wait_for("a holder", || !active.lock().unwrap().is_empty()).await;
    let first = active.lock().unwrap()[0];
    let (holder, other) = if first == "a" { (&a, &b) } else { (&b, &a) };
    // Hold `exclusive` on the other side; `holder` waits for it.
    let hold = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(AtomicUsize::new(0));
    let other_run = {
        let (other, release, started) = (other.clone(), hold.clone(), started.clone());
        tokio::spawn(async move {
            other
                .exclusive("run", async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    release.notified().await
                })
                .await
        })
    };
    wait_for("the first exclusive run", || {
        started.load(Ordering::SeqCst) == 1
    })
    .await;
    let waited = Arc::new(AtomicUsize::new(0));
    let holder_run = {
        let (holder, waited) = (holder.clone(), waited.clone());
        tokio::spawn(async move {
            holder
                .exclusive("run", async move { waited.fetch_add(1, Ordering::SeqCst) })
                .await
        })
    };
    // Not a synchronisation: the window in which the waiting run must not start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        waited.load(Ordering::SeqCst),
        0,
        "exclusive ran beside another holder"
    );
    hold.notify_one();
    other_run.await.unwrap().unwrap();
    holder_run.await.unwrap().unwrap();
    assert_eq!(waited.load(Ordering::SeqCst), 1);
    assert_eq!(active.lock().unwrap().len(), 1, "one worker at a time");
    holder.shutdown().await;
    let second = if first == "a" { "b" } else { "a" };
    wait_for("the other process to take over", || {
        active.lock().unwrap().as_slice() == [first, second]
    })
    .await;
    other.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
