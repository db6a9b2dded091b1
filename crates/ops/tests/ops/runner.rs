// The deploy runner with real processes: output streamed line by line, a failing step stops the
// run and a retry resumes from it, cancel stops a step's whole process tree, a refused check stops
// before the step starts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use stagecraft_ops::deploy::plan::{Plan, Step};
use stagecraft_ops::deploy::run::{run_steps, CheckFuture, RunEvent};
use tokio::sync::watch;

fn step(title: &str, script: &str, dir: &std::path::Path) -> Step {
    Step {
        phase: stagecraft_model::deploy::Phase::Terraform,
        tool: "test".into(),
        title: title.into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        fallback: None,
        dir: dir.display().to_string(),
        profile: "qa".into(),
        profiles: Vec::new(),
        reason: "test".into(),
    }
}

fn plan(steps: Vec<Step>) -> Plan {
    Plan {
        stage: "qa".into(),
        account_id: None,
        profile: "qa".into(),
        protected: false,
        state_location: None,
        steps,
    }
}

fn ok_check(_: &Step) -> CheckFuture {
    Box::pin(async { Ok(Vec::new()) })
}

#[tokio::test]
async fn lines_stream_in_order_and_a_failure_stops_the_run_until_a_retry_resumes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("fixed");
    let p = plan(vec![
        step(
            "one",
            "echo first; echo \"profile=$AWS_PROFILE\"; echo oops >&2",
            dir.path(),
        ),
        step(
            "two",
            &format!("test -f {} || {{ echo broken; exit 3; }}", marker.display()),
            dir.path(),
        ),
        step("three", "echo third", dir.path()),
    ]);
    let (_tx, rx) = watch::channel(false);
    let events = Mutex::new(Vec::new());
    let on = |e: RunEvent| events.lock().expect("lock").push(e);
    let results = run_steps(
        &p,
        0,
        &[],
        &ok_check,
        rx.clone(),
        Duration::from_secs(1),
        &on,
    )
    .await;
    let outcomes: Vec<(&str, Option<i32>)> = results
        .iter()
        .map(|r| (r.outcome.as_str(), r.exit_code))
        .collect();
    assert_eq!(outcomes, [("succeeded", Some(0)), ("failed", Some(3))]);
    assert!(
        results[0].log.contains("first\n")
            && results[0].log.contains("profile=qa\n")
            && results[0].log.contains("oops\n")
    );
    let lines: Vec<(u32, String, String)> = events
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            RunEvent::Line {
                index,
                stream,
                text,
                ..
            } if stream != "stagecraft" => Some((*index, stream.clone(), text.clone())),
            _ => None,
        })
        .collect();
    assert!(lines.contains(&(0, "stdout".into(), "first".into())));
    assert!(lines.contains(&(0, "stderr".into(), "oops".into())));
    assert!(lines.contains(&(1, "stdout".into(), "broken".into())));
    assert!(
        !lines.iter().any(|(i, _, _)| *i == 2),
        "step three never ran"
    );

    // Fix the cause, retry from the failed step: two and three run, one does not run again.
    std::fs::write(&marker, "").expect("marker");
    let retry = run_steps(&p, 1, &[], &ok_check, rx, Duration::from_secs(1), &on).await;
    let titles: Vec<(&str, &str)> = retry
        .iter()
        .map(|r| (r.title.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(titles, [("two", "succeeded"), ("three", "succeeded")]);
}

#[tokio::test]
async fn cancel_stops_the_whole_process_tree_of_a_long_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pids = dir.path().join("pids");
    // A step that starts a grandchild ignoring SIGTERM, and waits.
    let script = format!(
        "sh -c 'trap \"\" TERM; echo $$ > {p}.child; sleep 300' & echo $$ > {p}.main; echo started; wait",
        p = pids.display()
    );
    let p = plan(vec![
        step("long", &script, dir.path()),
        step("after", "echo never", dir.path()),
    ]);
    let (tx, rx) = watch::channel(false);
    let started = Mutex::new(false);
    let on = |e: RunEvent| {
        if let RunEvent::Line { text, .. } = &e {
            if text == "started" {
                *started.lock().expect("lock") = true;
            }
        }
    };
    let t0 = Instant::now();
    let run = run_steps(&p, 0, &[], &ok_check, rx, Duration::from_millis(500), &on);
    let cancel = async {
        while !*started.lock().expect("lock") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(true).expect("cancel");
    };
    let (results, ()) = tokio::join!(run, cancel);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "cancel took {:?}",
        t0.elapsed()
    );
    assert_eq!(results.len(), 1, "the next step does not start");
    assert_eq!(results[0].outcome.as_str(), "cancelled");
    for f in ["main", "child"] {
        let pid: i32 = std::fs::read_to_string(pids.with_extension(f))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        // SIGKILL is delivered asynchronously: on a loaded machine the process may not have been
        // scheduled to die yet when the run returns. Alive two seconds later means it survived.
        let alive = || {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ")
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(), "{f} process {pid} survived the cancel");
    }
}

#[tokio::test]
async fn a_refused_check_stops_before_the_step_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let touched = dir.path().join("ran");
    let p = plan(vec![step(
        "guarded",
        &format!("touch {}", touched.display()),
        dir.path(),
    )]);
    let (_tx, rx) = watch::channel(false);
    let refuse = |_: &Step| -> CheckFuture {
        Box::pin(async {
            Err(
                "profile `qa` acts in account 999999999999, not 222222222222"
                    .to_owned()
                    .into(),
            )
        })
    };
    let results = run_steps(&p, 0, &[], &refuse, rx, Duration::from_secs(1), &|_| {}).await;
    assert_eq!(results[0].outcome.as_str(), "refused");
    assert!(results[0].log.contains("999999999999"));
    assert!(!touched.exists());
}

#[tokio::test]
async fn a_flood_of_output_is_kept_up_to_the_limit_and_said_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    // ~12 MB of output in 100-byte lines.
    let p = plan(vec![step(
        "flood",
        "yes 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' | head -n 120000",
        dir.path(),
    )]);
    let (_tx, rx) = watch::channel(false);
    let results = run_steps(&p, 0, &[], &ok_check, rx, Duration::from_secs(1), &|_| {}).await;
    assert_eq!(results[0].outcome.as_str(), "succeeded");
    assert!(results[0].log.len() <= stagecraft_ops::deploy::run::MAX_LOG_BYTES + 100);
    assert!(results[0].log.ends_with("more bytes of output not kept]\n"));
}
