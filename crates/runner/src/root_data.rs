//! The stored data of one root call, for `wasmdask run` and `wasmdask execute` alike: the port
//! through which it and its subtasks fetch file, directory and dataset arguments, the root's
//! own mounts, and its `/outputs`, uploaded once the call returns.

use crate::data::{DataError, Outputs, StorePort};
use crate::error::SystemError;
use std::sync::Arc;
use tokio::runtime::Runtime;
use wasmdask_sandbox::{DataPort, Mount, TaskSig};
use wasmtime::component::Val;

/// The data side of one root call (see the module docs).
#[derive(Debug)]
pub struct RootData {
    port: Arc<StorePort>,
    mounts: Vec<Mount>,
    outputs: Option<Outputs>,
}

impl RootData {
    /// A port for the run, and the root call's inputs among `args` (the arguments of `task`)
    /// fetched and pointed at their mounts, plus a fresh `/outputs` when it returns data.
    ///
    /// # Errors
    ///
    /// The port's cache cannot be made (as a [`DataError::Local`]), or an input cannot be
    /// fetched.
    pub fn prepare(
        runtime: &Arc<Runtime>,
        task: &TaskSig,
        args: &mut [Val],
    ) -> Result<Self, DataError> {
        let port = Arc::new(
            StorePort::new(runtime.clone())
                .map_err(|SystemError { message, .. }| DataError::Local(message))?,
        );
        let mut mounts = port.mount(task, args)?;
        let outputs = if task.returns_stored() {
            let outputs = Outputs::new()?;
            mounts.push(outputs.mount().into());
            Some(outputs)
        } else {
            None
        };
        Ok(RootData {
            port,
            mounts,
            outputs,
        })
    }

    /// Where the cluster's calls fetch their stored arguments.
    pub fn port(&self) -> Arc<dyn DataPort> {
        self.port.clone()
    }

    /// The directories only the root execution sees, for
    /// [`ClusterGuard::run`](crate::fanout::ClusterGuard::run).
    pub fn take_mounts(&mut self) -> Vec<Mount> {
        std::mem::take(&mut self.mounts)
    }

    /// Uploads the files, directories and datasets in the root's result `value` to `prefix`
    /// and points the value at the uploads (see [`Outputs::upload`]).
    ///
    /// # Errors
    ///
    /// As [`Outputs::upload`].
    pub fn upload(
        &self,
        runtime: &Runtime,
        task: &TaskSig,
        value: Option<&mut Val>,
        prefix: Option<&str>,
    ) -> Result<(), DataError> {
        match (&self.outputs, value, task.output_type()) {
            (Some(outputs), Some(value), Some(ty)) => outputs.upload(runtime, value, &ty, prefix),
            _ => Ok(()),
        }
    }
}
