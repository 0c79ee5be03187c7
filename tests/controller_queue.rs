//! Behaviour of the generic controller: merging, per-key exclusion, backoff, parking, panic
//! isolation, concurrency, conditions, dependencies and shutdown. Time is tokio's paused clock,
//! so "an hour later" costs nothing and nothing depends on the machine's speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem::controller::{
    Backoff, ConditionType, Controller, ControllerConfig, ObjectRef, Outcome, ReconcileError,
    Reconciler, ShutdownReport, StatusBoard, WorkQueue,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

/// What one scripted reconcile does.
#[derive(Clone)]
enum Step {
    Ok,
    Transient,
    Terminal,
    Panic,
    Err(ReconcileError),
}

type Plan = dyn Fn(&ObjectRef, usize) -> (Duration, Step) + Send + Sync;

#[derive(Default)]
struct Record {
    starts: HashMap<ObjectRef, Vec<Instant>>,
    in_flight: HashMap<ObjectRef, usize>,
    total_in_flight: usize,
    max_in_flight: usize,
    overlaps: usize,
}

/// A reconciler driven by a plan: `(key, call index) -> (work time, result)`.
#[derive(Clone)]
struct Script {
    plan: Arc<Plan>,
    record: Arc<Mutex<Record>>,
}

impl Script {
    fn new(plan: impl Fn(&ObjectRef, usize) -> (Duration, Step) + Send + Sync + 'static) -> Self {
        Self {
            plan: Arc::new(plan),
            record: Arc::default(),
        }
    }

    fn calls(&self, key: &ObjectRef) -> usize {
        self.starts(key).len()
    }

    fn starts(&self, key: &ObjectRef) -> Vec<Instant> {
        let r = self.record.lock().unwrap();
        r.starts.get(key).cloned().unwrap_or_default()
    }
}

impl Reconciler<ObjectRef> for Script {
    async fn reconcile(&self, key: &ObjectRef) -> Result<Outcome, ReconcileError> {
        let n = {
            let mut r = self.record.lock().unwrap();
            let starts = r.starts.entry(key.clone()).or_default();
            starts.push(Instant::now());
            let n = starts.len() - 1;
            let flight = r.in_flight.entry(key.clone()).or_default();
            *flight += 1;
            if *flight > 1 {
                r.overlaps += 1;
            }
            r.total_in_flight += 1;
            r.max_in_flight = r.max_in_flight.max(r.total_in_flight);
            n
        };
        let (work, step) = (self.plan)(key, n);
        sleep(work).await;
        {
            let mut r = self.record.lock().unwrap();
            *r.in_flight.entry(key.clone()).or_default() -= 1;
            r.total_in_flight -= 1;
        }
        match step {
            Step::Ok => Ok(Outcome::ready().with_digest(format!("digest-{n}"))),
            Step::Transient => Err(ReconcileError::transient("Unreachable", "jira is down")),
            Step::Terminal => Err(ReconcileError::terminal(
                "InvalidSpec",
                "conn.yaml:3:7: url is empty",
            )),
            Step::Panic => panic!("scripted panic in {key}"),
            Step::Err(e) => Err(e),
        }
    }
}

fn key(name: &str) -> ObjectRef {
    ObjectRef::new("Connection", name)
}

fn config() -> ControllerConfig {
    ControllerConfig {
        concurrency: 4,
        resync_interval: None,
        backoff: Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.5,
        },
        dependency_backoff: Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            jitter: 0.2,
        },
        shutdown_grace: Duration::from_secs(10),
    }
}

struct Running {
    queue: WorkQueue<ObjectRef>,
    board: StatusBoard,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<ShutdownReport>,
}

impl Running {
    async fn shutdown(self) -> ShutdownReport {
        let _ = self.stop.send(());
        self.handle.await.expect("controller task")
    }
}

fn start(script: &Script, config: ControllerConfig, board: StatusBoard) -> Running {
    let controller = Controller::new(script.clone(), board.clone(), config);
    let queue = controller.queue();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(controller.run(async move {
        let _ = stopped.await;
    }));
    Running {
        queue,
        board,
        stop,
        handle,
    }
}

/// Lets every timer up to `d` from now fire; with the paused clock this returns as soon as
/// the controller has nothing left to do before then.
async fn settle(d: Duration) {
    sleep(d).await;
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn duplicate_enqueues_are_merged_into_one_run() {
    let script = Script::new(|k, _| {
        let work = if k.name == "slow" { 10 } else { 0 };
        (Duration::from_secs(work), Step::Ok)
    });
    let mut cfg = config();
    cfg.concurrency = 1;
    let rt = start(&script, cfg, StatusBoard::new());
    rt.queue.enqueue(key("slow"));
    for _ in 0..10 {
        rt.queue.enqueue(key("a"));
        rt.queue.enqueue_after(key("a"), Duration::from_secs(1));
    }
    settle(HOUR).await;
    assert_eq!(script.calls(&key("slow")), 1);
    assert_eq!(
        script.calls(&key("a")),
        1,
        "ten enqueues while waiting should run once"
    );
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn one_key_never_runs_twice_at_once() {
    let script = Script::new(|_, _| (Duration::from_millis(950), Step::Ok));
    let mut cfg = config();
    cfg.concurrency = 8;
    let rt = start(&script, cfg, StatusBoard::new());
    for _ in 0..200 {
        rt.queue.enqueue(key("a"));
        rt.queue.enqueue(key("b"));
        sleep(Duration::from_millis(100)).await;
    }
    settle(HOUR).await;
    let (overlaps, max_in_flight) = {
        let r = script.record.lock().unwrap();
        (r.overlaps, r.max_in_flight)
    };
    assert_eq!(overlaps, 0, "two reconciles of one key overlapped");
    assert!(
        max_in_flight >= 2,
        "the two keys should have run side by side"
    );
    assert!(script.calls(&key("a")) >= 10);
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn requeue_during_a_run_runs_exactly_once_more() {
    let script = Script::new(|_, _| (Duration::from_secs(10), Step::Ok));
    let rt = start(&script, config(), StatusBoard::new());
    rt.queue.enqueue(key("a"));
    sleep(Duration::from_secs(5)).await;
    assert_eq!(script.calls(&key("a")), 1);
    rt.queue.enqueue(key("a"));
    rt.queue.enqueue(key("a"));
    rt.queue.enqueue_after(key("a"), Duration::from_secs(1));
    settle(HOUR).await;
    let starts = script.starts(&key("a"));
    assert_eq!(starts.len(), 2, "re-queued mid-run: one more run, not more");
    assert!(
        starts[1] - starts[0] >= Duration::from_secs(10),
        "second run started before the first ended"
    );
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_while_failing_and_resets_after_success() {
    // Calls 0..=4 fail, 5 succeeds, 6 fails (after the drift requeue), 7 succeeds.
    let script = Script::new(|_, n| {
        let step = match n {
            0..=4 | 6 => Step::Transient,
            _ => Step::Ok,
        };
        (Duration::ZERO, step)
    });
    let mut cfg = config();
    cfg.resync_interval = Some(Duration::from_secs(1000));
    let board = StatusBoard::new();
    let rt = start(&script, cfg.clone(), board.clone());
    let a = key("a");
    rt.queue.enqueue(a.clone());

    sleep(Duration::from_secs(10)).await;
    // After four failures (at most 1+2+4 = 7 s in) the key is still failing.
    let mid = board.get("Connection", "a").expect("status");
    assert!(!mid.is_ready());
    assert!(mid.failures >= 3, "failures counted: {mid:?}");
    assert_eq!(
        mid.last_error.as_ref().map(|e| e.reason.as_str()),
        Some("Unreachable")
    );
    assert!(mid.next_reconcile.is_some());
    let reconciling = mid
        .condition(ConditionType::Reconciling)
        .expect("Reconciling");
    assert!(reconciling.status);

    settle(Duration::from_secs(1200)).await;
    let starts = script.starts(&a);
    assert!(starts.len() >= 8, "{} calls", starts.len());
    let gap = |i: usize| starts[i + 1] - starts[i];
    for i in 0..5 {
        let ceiling = cfg.backoff.ceiling(i as u32 + 1);
        assert!(
            gap(i) >= ceiling / 2,
            "gap {i} = {:?} below {ceiling:?}/2",
            gap(i)
        );
        assert!(
            gap(i) <= ceiling + Duration::from_millis(10),
            "gap {i} = {:?} above {ceiling:?}",
            gap(i)
        );
        if i > 0 {
            assert!(
                gap(i) >= gap(i - 1),
                "backoff shrank: {:?} then {:?}",
                gap(i - 1),
                gap(i)
            );
        }
    }
    assert!(
        gap(5) >= Duration::from_secs(1000),
        "drift requeue after success"
    );
    // The failure after a success starts again from the first step.
    assert!(
        gap(6) <= cfg.backoff.initial + Duration::from_millis(10),
        "backoff did not reset: {:?}",
        gap(6)
    );
    let status = board.get("Connection", "a").expect("status");
    assert!(status.is_ready());
    assert_eq!(status.failures, 0);
    assert!(status.last_error.is_none());
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn terminal_error_parks_the_key_until_its_spec_changes() {
    let script = Script::new(|_, n| {
        (
            Duration::ZERO,
            if n == 0 { Step::Terminal } else { Step::Ok },
        )
    });
    let mut cfg = config();
    cfg.resync_interval = Some(Duration::from_secs(10));
    let board = StatusBoard::new();
    let rt = start(&script, cfg, board.clone());
    let a = key("a");
    rt.queue.enqueue(a.clone());
    settle(HOUR).await;
    assert_eq!(script.calls(&a), 1, "a terminal error must not be retried");
    let s = board.get("Connection", "a").expect("status");
    let stalled = s.condition(ConditionType::Stalled).expect("Stalled");
    assert!(stalled.status);
    assert_eq!(stalled.reason, "InvalidSpec");
    assert!(stalled.message.contains("conn.yaml:3:7"));
    assert!(!s.is_ready());
    assert!(
        !s.condition(ConditionType::Reconciling)
            .expect("Reconciling")
            .status
    );
    assert_eq!(s.next_reconcile, None);
    assert!(rt.queue.is_parked(&a));

    // Webhooks, timers and manual nudges do not wake a parked key.
    assert!(!rt.queue.enqueue(a.clone()));
    assert!(!rt.queue.enqueue_after(a.clone(), Duration::from_secs(1)));
    settle(HOUR).await;
    assert_eq!(script.calls(&a), 1);

    rt.queue.spec_changed(a.clone());
    settle(Duration::from_secs(1)).await;
    assert_eq!(script.calls(&a), 2);
    let s = board.get("Connection", "a").expect("status");
    assert!(s.is_ready());
    assert!(!s.condition(ConditionType::Stalled).expect("Stalled").status);
    assert!(!rt.queue.is_parked(&a));
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn spec_change_during_a_terminal_run_is_not_lost() {
    let script = Script::new(|_, n| {
        (
            Duration::from_secs(5),
            if n == 0 { Step::Terminal } else { Step::Ok },
        )
    });
    let board = StatusBoard::new();
    let rt = start(&script, config(), board.clone());
    let a = key("a");
    rt.queue.enqueue(a.clone());
    sleep(Duration::from_secs(1)).await;
    rt.queue.spec_changed(a.clone());
    settle(HOUR).await;
    assert_eq!(script.calls(&a), 2);
    assert!(board.is_ready("Connection", "a"));
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_reconcile_only_affects_its_own_key() {
    let script = Script::new(|k, _| {
        let step = if k.name == "bad" {
            Step::Panic
        } else {
            Step::Ok
        };
        (Duration::from_millis(10), step)
    });
    let mut cfg = config();
    cfg.concurrency = 2;
    let board = StatusBoard::new();
    let rt = start(&script, cfg, board.clone());
    for name in ["bad", "b", "c"] {
        rt.queue.enqueue(key(name));
    }
    settle(Duration::from_secs(30)).await;
    assert!(board.is_ready("Connection", "b"));
    assert!(board.is_ready("Connection", "c"));
    let bad = board.get("Connection", "bad").expect("status");
    let ready = bad.condition(ConditionType::Ready).expect("Ready");
    assert!(!ready.status);
    assert_eq!(ready.reason, "ReconcilerPanicked");
    assert!(
        ready.message.contains("scripted panic in Connection/bad"),
        "{}",
        ready.message
    );
    assert!(
        bad.condition(ConditionType::Stalled)
            .expect("Stalled")
            .status
    );
    assert!(
        script.calls(&key("bad")) >= 2,
        "a panic is retried with backoff"
    );

    // The controller keeps serving other keys.
    let before = script.calls(&key("b"));
    rt.queue.enqueue(key("b"));
    settle(Duration::from_secs(1)).await;
    assert_eq!(script.calls(&key("b")), before + 1);
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_is_respected_and_used() {
    let script = Script::new(|_, _| (Duration::from_secs(1), Step::Ok));
    let mut cfg = config();
    cfg.concurrency = 3;
    let rt = start(&script, cfg, StatusBoard::new());
    for i in 0..20 {
        rt.queue.enqueue(key(&format!("k{i}")));
    }
    settle(HOUR).await;
    assert_eq!(script.record.lock().unwrap().max_in_flight, 3);
    for i in 0..20 {
        assert_eq!(script.calls(&key(&format!("k{i}"))), 1);
    }
    assert_eq!(rt.board.list().len(), 20);
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn transition_time_changes_only_when_ready_flips() {
    // Timeline (jitter 0): t0 ok, t100 ok (drift), t200 fail, t210 fail, t230 ok.
    let script = Script::new(|_, n| {
        (
            Duration::ZERO,
            if matches!(n, 2 | 3) {
                Step::Transient
            } else {
                Step::Ok
            },
        )
    });
    let mut cfg = config();
    cfg.resync_interval = Some(Duration::from_secs(100));
    cfg.backoff = Backoff {
        initial: Duration::from_secs(10),
        max: Duration::from_secs(60),
        jitter: 0.0,
    };
    let board = StatusBoard::new();
    let t0 = Instant::now();
    let rt = start(&script, cfg, board.clone());
    rt.queue.enqueue(key("a"));
    let ready_at = |secs: u64| {
        let board = board.clone();
        async move {
            tokio::time::sleep_until(t0 + Duration::from_secs(secs)).await;
            let s = board.get("Connection", "a").expect("status");
            (s.condition(ConditionType::Ready).expect("Ready").clone(), s)
        }
    };
    let (r50, s50) = ready_at(50).await;
    let (r150, s150) = ready_at(150).await;
    let (r205, _) = ready_at(205).await;
    let (r220, s220) = ready_at(220).await;
    let (r250, _) = ready_at(250).await;

    assert!(r50.status && r150.status);
    assert_eq!(
        r50.last_transition_time, r150.last_transition_time,
        "a second success is no transition"
    );
    assert_eq!(s150.reconcile_count, s50.reconcile_count + 1);
    assert!(s150.last_reconciled > s50.last_reconciled);

    assert!(!r205.status);
    assert!(r205.last_transition_time > r150.last_transition_time);
    assert_eq!(
        r220.last_transition_time, r205.last_transition_time,
        "still failing is no transition"
    );
    assert_eq!(s220.failures, 2);

    assert!(r250.status);
    assert!(r250.last_transition_time > r220.last_transition_time);
    let flip_to_false = r205.last_transition_time - r50.last_transition_time;
    assert_eq!(
        flip_to_false.num_seconds(),
        200,
        "transition stamped when it happened"
    );
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn dependents_start_as_soon_as_their_dependency_is_ready() {
    let board = StatusBoard::new();
    let deps = board.clone();
    let script = Script::new(move |k, n| {
        let step = match (k.kind.as_str(), n) {
            ("Connection", 0 | 1) => Step::Transient,
            ("Connection", _) => Step::Ok,
            _ => match deps.require_ready("Connection", "acme") {
                Ok(()) => Step::Ok,
                Err(e) => Step::Err(e),
            },
        };
        (Duration::ZERO, step)
    });
    let mut cfg = config();
    // Without the wake-up the integration would sit out an hour of dependency backoff.
    cfg.dependency_backoff = Backoff {
        initial: HOUR,
        max: HOUR,
        jitter: 0.0,
    };
    let rt = start(&script, cfg, board.clone());
    let pi = ObjectRef::new("ProjectIntegration", "demo");
    rt.queue.enqueue(pi.clone());
    sleep(Duration::from_millis(100)).await;
    let waiting = board.get("ProjectIntegration", "demo").expect("status");
    let ready = waiting.condition(ConditionType::Ready).expect("Ready");
    assert_eq!(ready.reason, "DependencyNotReady");
    assert!(
        ready.message.contains("Connection/acme"),
        "{}",
        ready.message
    );
    assert!(
        !waiting
            .condition(ConditionType::Stalled)
            .expect("Stalled")
            .status
    );

    rt.queue.enqueue(key("acme"));
    settle(Duration::from_secs(60)).await;
    assert!(board.is_ready("Connection", "acme"));
    assert!(
        board.is_ready("ProjectIntegration", "demo"),
        "{:?}",
        board.get("ProjectIntegration", "demo")
    );
    assert_eq!(script.calls(&pi), 2);
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn removed_resources_leave_the_status_board() {
    struct Gone;
    impl Reconciler<ObjectRef> for Gone {
        async fn reconcile(&self, _: &ObjectRef) -> Result<Outcome, ReconcileError> {
            Ok(Outcome::removed())
        }
    }
    let board = StatusBoard::new();
    board.update("Connection", "old", |s| {
        s.observed_digest = Some("d".into())
    });
    let controller = Controller::new(Gone, board.clone(), config());
    let queue = controller.queue();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(controller.run(async move {
        let _ = stopped.await;
    }));
    queue.enqueue(key("old"));
    settle(HOUR).await;
    assert!(board.get("Connection", "old").is_none());
    assert_eq!(queue.stats().scheduled, 0);
    let _ = stop.send(());
    handle.await.expect("controller");
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_in_flight_work_up_to_the_grace_period() {
    let script = Script::new(|k, _| {
        let secs = if k.name == "slow" { 60 } else { 5 };
        (Duration::from_secs(secs), Step::Ok)
    });
    let mut cfg = config();
    cfg.concurrency = 2;
    let board = StatusBoard::new();
    let rt = start(&script, cfg, board.clone());
    rt.queue.enqueue(key("quick"));
    rt.queue.enqueue(key("slow"));
    rt.queue.enqueue(key("later"));
    sleep(Duration::from_secs(1)).await;
    let began = Instant::now();
    let queue = rt.queue.clone();
    let report = rt.shutdown().await;
    assert_eq!(
        report,
        ShutdownReport {
            completed: 1,
            aborted: 1
        }
    );
    assert!(Instant::now() - began <= Duration::from_secs(10) + Duration::from_millis(10));
    assert!(
        board.is_ready("Connection", "quick"),
        "finished work is recorded"
    );
    assert_eq!(script.calls(&key("later")), 0, "no new work after shutdown");
    queue.enqueue(key("after"));
    settle(HOUR).await;
    assert_eq!(script.calls(&key("after")), 0);
}
