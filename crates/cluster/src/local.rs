//! The embedded cluster: a [`Pool`] in this process whose calls fan out into the same pool.

use super::guest_output::FailedSubtasks;
use super::pool::{Done, Job, Pool, PoolInner, Progress};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use wasmdask_sandbox::Sandbox;
use wasmdask_sandbox::{Call, FanOut, Pending};
use wasmdask_sandbox::{ErrorKind, TaskError};

/// The owner handle of an embedded cluster; dropping it stops the worker threads.
#[derive(Debug)]
pub struct LocalCluster {
    pool: Pool,
    failures: Arc<FailedSubtasks>,
}

/// Submits into the pool without keeping it alive.
#[derive(Debug)]
struct LocalSubmit {
    pool: Weak<PoolInner>,
    failures: Arc<FailedSubtasks>,
}

impl LocalCluster {
    /// A cluster of `slots` concurrent sandboxes. Threads start on demand.
    pub fn new(sandbox: Arc<Sandbox>, slots: usize) -> Self {
        let pool = Pool::new(sandbox, slots);
        let failures = Arc::new(FailedSubtasks::default());
        pool.set_fanout(Arc::new(LocalSubmit {
            pool: pool.downgrade(),
            failures: failures.clone(),
        }));
        LocalCluster { pool, failures }
    }

    /// The handle a root execution uses to submit to this cluster.
    pub fn client(&self) -> Arc<dyn FanOut> {
        Arc::new(LocalSubmit {
            pool: self.pool.downgrade(),
            failures: self.failures.clone(),
        })
    }

    /// The subtasks (at any depth) that failed, with what they wrote.
    pub fn failures(&self) -> Arc<FailedSubtasks> {
        self.failures.clone()
    }

    /// Live counters of the calls submitted to this cluster.
    pub fn progress(&self) -> Arc<Progress> {
        self.pool.progress()
    }

    /// Sets where calls fetch their file, directory and dataset arguments (once).
    pub fn set_data(&self, data: Arc<dyn wasmdask_sandbox::DataPort>) {
        self.pool.set_data(data);
    }

    /// How many executions run at once.
    pub fn slots(&self) -> usize {
        self.pool.slots()
    }
}

impl FanOut for LocalSubmit {
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError> {
        let Some(pool) = self.pool.upgrade() else {
            return Err(TaskError::new(
                ErrorKind::Lost,
                "the embedded cluster has shut down",
            ));
        };
        let mut pending = Vec::with_capacity(calls.len());
        let mut ready = Vec::with_capacity(calls.len());
        for call in calls {
            let p = Pending::new();
            pending.push(p.clone());
            let failures = self.failures.clone();
            let done: Done = Box::new(move |finished| {
                if let Err(error) = &finished.outcome {
                    failures.record(&finished.function, error, finished.output);
                }
                p.complete(finished.outcome)
            });
            let job = Job {
                call,
                done,
                key: None,
            };
            let inputs: Vec<Pending> = job
                .call
                .inputs()
                .filter(|input| !input.result.is_done())
                .map(|input| input.result.clone())
                .collect();
            if inputs.is_empty() {
                ready.push(job);
            } else {
                queue_when_done(&self.pool, job, inputs);
            }
        }
        pool.push(ready);
        Ok(pending)
    }
}

/// Queues `job` once every one of `inputs` has finished: a call waiting for its arguments
/// holds no slot and no instance.
fn queue_when_done(pool: &Weak<PoolInner>, job: Job, inputs: Vec<Pending>) {
    let missing = Arc::new(AtomicUsize::new(inputs.len()));
    let job = Arc::new(Mutex::new(Some(job)));
    for input in inputs {
        let (pool, missing, job) = (pool.clone(), missing.clone(), job.clone());
        input.on_done(move || {
            if missing.fetch_sub(1, Ordering::AcqRel) == 1
                && let (Some(pool), Some(job)) = (pool.upgrade(), job.lock().take())
            {
                pool.push(vec![job]);
            }
        });
    }
}
