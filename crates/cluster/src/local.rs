//! The embedded cluster: a [`Pool`] in this process whose calls fan out into the same pool.

use super::guest_output::FailedSubtasks;
use super::pool::{Done, Job, Pool, PoolInner, Progress};
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
        let jobs: Vec<Job> = calls
            .into_iter()
            .map(|call| {
                let p = Pending::new();
                pending.push(p.clone());
                let failures = self.failures.clone();
                let done: Done = Box::new(move |finished| {
                    if let Err(error) = &finished.outcome {
                        failures.record(&finished.function, error, finished.output);
                    }
                    p.complete(finished.outcome)
                });
                Job {
                    call,
                    done,
                    key: None,
                }
            })
            .collect();
        pool.push(jobs);
        Ok(pending)
    }
}
