//! Where an execution's instance comes from: a slot of the pooling allocator, held by a
//! [`Permit`], or, when the pool cannot free one, an instance beyond the pool.
//!
//! The pool has `max_instances` slots and a slot is held for a whole execution, including the
//! time its guest waits in `cluster.gather` for its own subtasks. A fan-out tree whose waiting
//! parents hold every slot would starve the children they wait for, so a waiter takes a pooled
//! slot only while some holder that is still running can free one. Otherwise the execution runs
//! on [`Overflow`]: a second engine with the on-demand allocator and the same compilation
//! settings, made on first need. The pool stays the fast path; the overflow only guarantees
//! progress.

use super::component::{LoadedComponent, TaskSig};
use super::host::HostState;
use crate::fanout::{Call, FanOut, Pending};
use crate::task_error::{ErrorKind, TaskError};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Component, Func, Instance, InstancePre, Linker};
use wasmtime::{AsContextMut, Engine};

/// Bounds the executions that hold a pooled slot and knows which of them wait in `gather`.
#[derive(Debug)]
pub(crate) struct Permits {
    counts: Mutex<Counts>,
    changed: Condvar,
}

#[derive(Debug)]
struct Counts {
    /// Permits in all (`max_instances`).
    total: usize,
    free: usize,
    /// Holders waiting in `gather`: they free nothing until their subtasks are done.
    blocked: usize,
    /// Executions waiting here for a permit.
    waiting: usize,
}

impl Counts {
    /// Holders that are running and so will free their permit, or block, before long.
    fn running(&self) -> usize {
        self.total - self.free - self.blocked
    }
}

/// A pooled slot, returned when dropped.
#[derive(Debug)]
pub(crate) struct Permit(Arc<Permits>);

impl Permits {
    pub(crate) fn new(total: usize) -> Self {
        Permits {
            counts: Mutex::new(Counts {
                total,
                free: total,
                blocked: 0,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// A free permit, after waiting for one while a running holder can still free it; `None`
    /// when no running holder is left for this caller to count on (each waiter counts on a
    /// different one), so the caller must run beyond the pool.
    pub(crate) fn acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut counts = self.counts.lock();
        loop {
            if counts.free > 0 {
                counts.free -= 1;
                return Some(Permit(self.clone()));
            }
            if counts.running() <= counts.waiting {
                return None;
            }
            counts.waiting += 1;
            self.changed.wait(&mut counts);
            counts.waiting -= 1;
        }
    }

    /// Runs `wait` with one held permit counted as blocked. A holder that blocks can no longer
    /// be counted on, so the waiters re-check whether to go beyond the pool.
    pub(crate) fn while_blocked<T>(&self, wait: impl FnOnce() -> T) -> T {
        {
            let mut counts = self.counts.lock();
            counts.blocked += 1;
            if counts.waiting > 0 {
                self.changed.notify_all();
            }
        }
        let result = wait();
        self.counts.lock().blocked -= 1;
        result
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.0.counts.lock();
        counts.free += 1;
        // One waiter takes it; the others' reckoning is unchanged (one running holder and one
        // waiter fewer).
        if counts.waiting > 0 {
            self.0.changed.notify_one();
        }
    }
}

/// What one execution instantiates: the pooled engine under a permit, or the overflow engine.
pub(crate) struct Lease {
    pub(crate) engine: Engine,
    pub(crate) pre: InstancePre<HostState>,
    /// `None` beyond the pool.
    permit: Option<Permit>,
}

impl Lease {
    pub(crate) fn pooled(component: &LoadedComponent, engine: &Engine, permit: Permit) -> Self {
        Lease {
            engine: engine.clone(),
            pre: component.pre.clone(),
            permit: Some(permit),
        }
    }

    /// The execution's fan-out port. A pooled execution's waits in `gather` mark its permit
    /// blocked, so that executions waiting for a permit do not count on it.
    pub(crate) fn fan_out(&self, cluster: Option<Arc<dyn FanOut>>) -> Option<Arc<dyn FanOut>> {
        match (&self.permit, cluster) {
            (Some(Permit(permits)), Some(upstream)) => Some(Arc::new(Blocking {
                upstream,
                permits: permits.clone(),
            })),
            (_, cluster) => cluster,
        }
    }

    /// The task's export in `instance`. An export index belongs to the pooled engine's compiled
    /// component, so beyond the pool the export is found by name.
    pub(crate) fn export(
        &self,
        store: impl AsContextMut,
        instance: &Instance,
        task: &TaskSig,
    ) -> Option<Func> {
        match self.permit {
            Some(_) => instance.get_func(store, task.index),
            None => instance.get_func(store, task.name.as_str()),
        }
    }
}

/// The fan-out port of a pooled execution (see [`Lease::fan_out`]).
#[derive(Debug)]
struct Blocking {
    upstream: Arc<dyn FanOut>,
    permits: Arc<Permits>,
}

impl FanOut for Blocking {
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError> {
        self.upstream.submit(calls)
    }

    fn gather(&self, pending: &[Pending], deadline: Instant) -> Vec<Result<Bytes, TaskError>> {
        self.permits
            .while_blocked(|| self.upstream.gather(pending, deadline))
    }
    fn release(&self, pending: &[Pending]) {
        self.upstream.release(pending);
    }
}

/// Instances beyond the pool: an engine with the on-demand allocator, its linker (the same
/// host functions) and its own epoch ticker, and each component linked for it on first use.
pub(crate) struct Overflow {
    engine: Engine,
    linker: Linker<HostState>,
    linked: Mutex<HashMap<String, InstancePre<HostState>>>,
}

impl Overflow {
    pub(crate) fn new(engine: Engine, linker: Linker<HostState>) -> Self {
        Overflow {
            engine,
            linker,
            linked: Mutex::new(HashMap::new()),
        }
    }

    /// A lease beyond the pool for `component`.
    pub(crate) fn lease(&self, component: &LoadedComponent) -> Result<Lease, TaskError> {
        let found = self.linked.lock().get(&component.digest).cloned();
        let pre = match found {
            Some(pre) => pre,
            None => {
                let pre = self.link(component)?;
                let mut linked = self.linked.lock();
                linked
                    .entry(component.digest.clone())
                    .or_insert(pre)
                    .clone()
            }
        };
        Ok(Lease {
            engine: self.engine.clone(),
            pre,
            permit: None,
        })
    }

    /// Moves the pooled engine's compiled code over instead of compiling again: the allocator
    /// does not enter the engines' compatibility hash (wasmtime documents compiled artifacts as
    /// usable with and without the pooling allocator), so this costs a copy, not a compile.
    fn link(&self, component: &LoadedComponent) -> Result<InstancePre<HostState>, TaskError> {
        let fail = |e: wasmtime::Error| unavailable(format!("{e:#}"));
        let artifact = component.pre.component().serialize().map_err(fail)?;
        // SAFETY: the bytes were serialized a moment ago by this process from a component of
        // an engine with the same compilation settings; wasmtime checks the header and the
        // settings again before mapping them.
        #[allow(unsafe_code)]
        let compiled = unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(fail)?;
        self.linker.instantiate_pre(&compiled).map_err(fail)
    }
}

/// Why an execution that needed an instance beyond the pool could not have one.
pub(crate) fn unavailable(reason: String) -> TaskError {
    TaskError::new(
        ErrorKind::InvalidComponent,
        format!(
            "cannot make an instance beyond the pool of --max-instances: {reason}; raise \
             --max-instances so that the pool suffices"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Waits until `n` callers wait for a permit.
    fn until_waiting(permits: &Permits, n: usize) {
        while permits.counts.lock().waiting != n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_free_permit_is_taken_at_once_and_returned_on_drop() {
        let permits = Arc::new(Permits::new(2));
        let (a, b) = (permits.acquire(), permits.acquire());
        assert!(a.is_some() && b.is_some());
        assert_eq!(permits.counts.lock().free, 0);
        drop((a, b));
        assert_eq!(permits.counts.lock().free, 2);
    }

    #[test]
    fn with_every_holder_blocked_a_caller_goes_beyond_the_pool() {
        let permits = Arc::new(Permits::new(1));
        let _held = permits.acquire().unwrap();
        assert!(permits.while_blocked(|| permits.acquire()).is_none());
    }

    #[test]
    fn a_waiter_takes_the_permit_its_running_holder_frees() {
        let permits = Arc::new(Permits::new(1));
        let held = permits.acquire().unwrap();
        let waiter = std::thread::spawn({
            let permits = permits.clone();
            move || permits.acquire().is_some()
        });
        until_waiting(&permits, 1);
        drop(held);
        assert!(waiter.join().unwrap(), "pooled, not beyond the pool");
    }

    #[test]
    fn a_waiter_goes_beyond_the_pool_when_its_holder_blocks() {
        let permits = Arc::new(Permits::new(1));
        let _held = permits.acquire().unwrap();
        let waiter = std::thread::spawn({
            let permits = permits.clone();
            move || permits.acquire().is_some()
        });
        until_waiting(&permits, 1);
        let pooled = permits.while_blocked(|| waiter.join().unwrap());
        assert!(!pooled);
    }

    #[test]
    fn each_waiter_counts_on_a_running_holder_of_its_own() {
        let permits = Arc::new(Permits::new(1));
        let held = permits.acquire().unwrap();
        let first = std::thread::spawn({
            let permits = permits.clone();
            move || permits.acquire().is_some()
        });
        until_waiting(&permits, 1);
        // The one running holder is already counted on.
        assert!(permits.acquire().is_none());
        drop(held);
        assert!(first.join().unwrap());
    }
}
