//! Work the sale can wait for (a ticket PDF, writing and sending an email)
//! runs on one thread of its own in Linux's `SCHED_IDLE` class: it takes only
//! the CPU the serving threads leave, so a spike's latency does not pay for
//! the confirmations it produces; they go out as the load allows.
//!
//! Nothing run here may take an engine lock: a thread that can wait long
//! for the CPU must not hold what a serving thread waits for (priority
//! inversion). Callers gather what they need from the engine first and hand
//! over plain data.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use guichet_engine::limits::MAX_SPARE_CPU_JOBS;
use parking_lot::Mutex;
use thread_priority::{
    set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
};
use tokio::runtime::Handle;
use tokio::sync::{oneshot, Semaphore};

/// Why work did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpareCpuError {
    /// The queue is full, or the work did not get the CPU in the time allowed.
    #[error("the background worker is busy")]
    Busy,
    /// The worker is gone (the server is stopping) or the work panicked.
    #[error("the background worker stopped")]
    Stopped,
}

/// The idle-priority worker: a current-thread tokio runtime on its own
/// thread, at most [`MAX_SPARE_CPU_JOBS`] pieces of work queued or running.
pub struct SpareCpu {
    handle: Handle,
    slots: Arc<Semaphore>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl SpareCpu {
    /// Starts the worker thread (`guichet-spare`). Where the idle class is
    /// refused (not Linux), it runs at normal priority, and says so.
    pub fn start() -> std::io::Result<SpareCpu> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name("guichet-spare".into()).spawn(move || {
            lower_own_priority();
            // Work still queued when the server stops is dropped: what it
            // would have done is recorded nowhere yet, so it is done again.
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        Ok(SpareCpu { handle, slots: Arc::new(Semaphore::new(MAX_SPARE_CPU_JOBS)), stop: Mutex::new(Some(stop)) })
    }

    /// Runs `work` there, waiting for a place in the queue and for the work
    /// however long the load makes it (the email worker: nobody waits on it).
    pub async fn run<T, W>(&self, work: W) -> Result<T, SpareCpuError>
    where
        T: Send + 'static,
        W: Future<Output = T> + Send + 'static,
    {
        let slot = self.slots.clone().acquire_owned().await.map_err(|_| SpareCpuError::Stopped)?;
        self.spawn(slot, work).await
    }

    /// Runs `work` there if the queue has room, waiting at most `wait` for
    /// it (someone waits on the answer); `Busy` otherwise. Work that runs
    /// out of time still finishes, holding its place in the queue till then.
    pub async fn run_within<T, W>(&self, wait: Duration, work: W) -> Result<T, SpareCpuError>
    where
        T: Send + 'static,
        W: Future<Output = T> + Send + 'static,
    {
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| SpareCpuError::Busy)?;
        tokio::time::timeout(wait, self.spawn(slot, work)).await.unwrap_or(Err(SpareCpuError::Busy))
    }

    async fn spawn<T, W>(&self, slot: tokio::sync::OwnedSemaphorePermit, work: W) -> Result<T, SpareCpuError>
    where
        T: Send + 'static,
        W: Future<Output = T> + Send + 'static,
    {
        let task = self.handle.spawn(async move {
            let done = work.await;
            drop(slot);
            done
        });
        task.await.map_err(|_| SpareCpuError::Stopped)
    }
}

impl Drop for SpareCpu {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().take() {
            let _ = stop.send(());
        }
    }
}

/// Puts the calling thread in the idle scheduling class.
fn lower_own_priority() {
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(error) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
        tracing::warn!("background work runs at normal priority: the idle class was refused ({error:?})");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{SpareCpu, SpareCpuError};
    use guichet_engine::limits::MAX_SPARE_CPU_JOBS;

    #[tokio::test]
    async fn work_runs_on_the_spare_thread_and_answers() {
        let spare = SpareCpu::start().unwrap();
        let name = spare.run(async { std::thread::current().name().map(str::to_owned) }).await;
        assert_eq!(name, Ok(Some("guichet-spare".to_owned())));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_spare_thread_is_in_the_idle_class() {
        let spare = SpareCpu::start().unwrap();
        let policy = spare.run(async { thread_priority::thread_schedule_policy() }).await.unwrap();
        let idle = thread_priority::ThreadSchedulePolicy::Normal(thread_priority::NormalThreadSchedulePolicy::Idle);
        assert_eq!(policy.ok(), Some(idle));
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let spare = std::sync::Arc::new(SpareCpu::start().unwrap());
        let (release, released) = tokio::sync::watch::channel(false);
        for _ in 0..MAX_SPARE_CPU_JOBS {
            let mut released = released.clone();
            let spare = spare.clone();
            tokio::spawn(async move { spare.run(async move { released.wait_for(|r| *r).await.is_ok() }).await });
        }
        while spare.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = spare.run_within(Duration::from_secs(5), async { 1 }).await;
        assert_eq!(refused, Err(SpareCpuError::Busy));
        release.send(true).unwrap();
        while spare.slots.available_permits() < MAX_SPARE_CPU_JOBS {
            tokio::task::yield_now().await;
        }
        assert_eq!(spare.run_within(Duration::from_secs(5), async { 2 }).await, Ok(2));
    }

    #[tokio::test]
    async fn work_that_outlasts_the_wait_is_busy() {
        let spare = SpareCpu::start().unwrap();
        let late = spare.run_within(Duration::from_millis(20), tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(late, Err(SpareCpuError::Busy));
    }
}
