//! The bookkeeping of pipeline runs: the tasks parked while they wait, and what
//! each one waits for (an SQL effect the driver carries out, a request handed to
//! the dialer).
//!
//! [`Runs`] owns the parked tasks and the two waiter tables together, so that the
//! cross-references between them are kept in one place and checked by
//! [`Runs::check`]: every SQL effect and connect request waited on belongs to a
//! parked task, and a task parked on one is registered under it. Reverse requests
//! are the exception: their waiters live in the peer machines of the connections,
//! so the engine checks those against [`Runs::get`].
//!
//! A leaf part: it knows tasks, effect ids and request tokens, not the engine.

use std::collections::BTreeMap;

use crate::contract::EffectId;
use crate::engine::dialer::types::RequestToken;
use crate::engine::task::{Phase, Task, TaskId, Wait};

/// The tasks of the engine and what they are parked on; see the module
/// documentation.
///
/// A running task is taken out ([`Runs::take`]) and put back ([`Runs::park`]) when
/// it parks again, so that the engine can borrow it alongside its other parts.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    /// Parked tasks.
    tasks: BTreeMap<TaskId, Task>,
    /// The last task number handed out (the first is 1).
    next_task: u64,
    /// The last SQL effect number handed out (the first is 1).
    next_effect: u64,
    /// Tasks parked on an SQL effect (directly or inside `@select`).
    sql_waits: BTreeMap<EffectId, TaskId>,
    /// The next token for an connect request (the first is 0).
    next_token: u64,
    /// Tasks parked on an connect request.
    connect_waits: BTreeMap<RequestToken, TaskId>,
}

impl Runs {
    /// No task yet.
    pub fn new() -> Runs {
        Runs::default()
    }

    /// A fresh task number, in creation order.
    pub fn new_task_id(&mut self) -> TaskId {
        self.next_task += 1;
        TaskId(self.next_task)
    }

    /// How many tasks are parked.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Park `task` under `tid` (it waits for what its `wait` says).
    pub fn park(&mut self, tid: TaskId, task: Task) {
        self.tasks.insert(tid, task);
    }

    /// Take parked task `tid` out to run it. What it waits on stays registered: the
    /// caller either parks it again on the same thing or finishes that wait (a
    /// reverse request, whose waiter the peer machine holds, or a task taken with
    /// [`Runs::sql_done`] or [`Runs::connect_done`]).
    pub fn take(&mut self, tid: TaskId) -> Option<Task> {
        self.tasks.remove(&tid)
    }

    /// Parked task `tid`.
    pub fn get(&self, tid: TaskId) -> Option<&Task> {
        self.tasks.get(&tid)
    }

    /// Every parked task, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (TaskId, &Task)> {
        self.tasks.iter().map(|(tid, task)| (*tid, task))
    }

    /// Every parked task, oldest first, to update what a reload changed (their
    /// origin); not what they wait on, which the waiter tables mirror.
    pub fn tasks_mut(&mut self) -> impl Iterator<Item = &mut Task> {
        self.tasks.values_mut()
    }

    /// A fresh SQL effect, registered as awaited by task `tid` (which the caller
    /// parks on it).
    pub fn wait_sql(&mut self, tid: TaskId) -> EffectId {
        self.next_effect += 1;
        let effect = EffectId(self.next_effect);
        self.sql_waits.insert(effect, tid);
        effect
    }

    /// SQL effect `effect` is done: forget who waited for it and take that task out,
    /// if both still exist (an unknown effect, or a task gone meanwhile, gives
    /// `None`).
    pub fn sql_done(&mut self, effect: EffectId) -> Option<(TaskId, Task)> {
        let tid = self.sql_waits.remove(&effect)?;
        self.tasks.remove(&tid).map(|task| (tid, task))
    }

    /// How many SQL effects are awaited.
    pub fn sql_pending(&self) -> usize {
        self.sql_waits.len()
    }

    /// A fresh token for an connect request. It is spent even when the request is
    /// not sent after all.
    pub fn new_token(&mut self) -> RequestToken {
        let token = RequestToken(self.next_token);
        self.next_token += 1;
        token
    }

    /// Register task `tid` as awaiting connect request `token` (the caller parks
    /// it on that request).
    pub fn wait_connect(&mut self, token: RequestToken, tid: TaskId) {
        self.connect_waits.insert(token, tid);
    }

    /// Outbound request `token` is over: forget who waited for it and take that
    /// task out, if both still exist.
    pub fn connect_done(&mut self, token: RequestToken) -> Option<(TaskId, Task)> {
        let tid = self.connect_waits.remove(&token)?;
        self.tasks.remove(&tid).map(|task| (tid, task))
    }

    /// How many connect requests are awaited.
    pub fn connect_pending(&self) -> usize {
        self.connect_waits.len()
    }

    /// Check the cross-references between parked tasks and the waiter tables: no
    /// parked task is running or parked on an idle reverse call; a task parked on
    /// an SQL effect (directly, or in `@select`, which only parks on one) or on an
    /// connect request is registered under it; and every effect and request
    /// awaited belongs to a parked task. Reverse requests in flight or queued are
    /// the engine's to check against the peer machines. Returns the first
    /// inconsistency found.
    pub fn check(&self) -> Result<(), String> {
        for (tid, task) in &self.tasks {
            match &task.wait {
                Wait::Running => return Err(format!("task {tid} parked while running")),
                Wait::Sql { effect, .. } => {
                    if self.sql_waits.get(effect) != Some(tid) {
                        return Err(format!(
                            "task {tid}: SQL effect {} not registered",
                            effect.0
                        ));
                    }
                }
                Wait::Connect(call) => {
                    if self.connect_waits.get(&call.token) != Some(tid) {
                        return Err(format!(
                            "task {tid}: connect request {} not registered",
                            call.token.0
                        ));
                    }
                }
                Wait::Reverse(call) => match &call.phase {
                    Phase::Idle => {
                        return Err(format!("task {tid} parked with an idle reverse call"));
                    }
                    Phase::Selecting { sql, .. } => match sql {
                        Some((effect, _, _)) if self.sql_waits.get(effect) == Some(tid) => {}
                        _ => return Err(format!("task {tid} parked in @select without SQL")),
                    },
                    Phase::Queued { .. } | Phase::InFlight { .. } | Phase::Forwarded { .. } => {}
                },
            }
        }
        for (token, tid) in &self.connect_waits {
            if !self.tasks.contains_key(tid) {
                return Err(format!(
                    "connect request {} waits for missing task {tid}",
                    token.0
                ));
            }
        }
        for (effect, tid) in &self.sql_waits {
            if !self.tasks.contains_key(tid) {
                return Err(format!(
                    "SQL effect {} waits for missing task {tid}",
                    effect.0
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_handed_out_in_order() {
        let mut runs = Runs::new();
        assert_eq!(runs.new_task_id(), TaskId(1));
        assert_eq!(runs.new_task_id(), TaskId(2));
        assert_eq!(runs.new_token(), RequestToken(0));
        assert_eq!(runs.new_token(), RequestToken(1));
        assert_eq!(runs.wait_sql(TaskId(1)), EffectId(1));
        assert_eq!(runs.wait_sql(TaskId(2)), EffectId(2));
        assert_eq!(runs.sql_pending(), 2);
    }

    #[test]
    fn a_wait_without_its_task_is_reported_and_cleared_when_done() {
        let mut runs = Runs::new();
        let tid = runs.new_task_id();
        let effect = runs.wait_sql(tid);
        assert_eq!(
            runs.check(),
            Err("SQL effect 1 waits for missing task 1".to_owned())
        );
        assert!(runs.sql_done(effect).is_none(), "no task to resume");
        assert_eq!(
            runs.sql_pending(),
            0,
            "the waiter is forgotten all the same"
        );

        let token = runs.new_token();
        runs.wait_connect(token, tid);
        assert_eq!(
            runs.check(),
            Err("connect request 0 waits for missing task 1".to_owned())
        );
        assert!(runs.connect_done(token).is_none());
        assert_eq!(runs.connect_pending(), 0);
        assert_eq!(runs.check(), Ok(()));
    }

    #[test]
    fn unknown_effects_and_tokens_are_ignored() {
        let mut runs = Runs::new();
        assert!(runs.sql_done(EffectId(7)).is_none());
        assert!(runs.connect_done(RequestToken(7)).is_none());
        assert!(runs.take(TaskId(7)).is_none());
        assert_eq!(runs.len(), 0);
        assert_eq!(runs.check(), Ok(()));
    }
}
