//! The graph benchmark, in the app's real webview (WebKitGTK through WebDriver, under Xvfb): the
//! window opens on a stored synthetic snapshot of about 50 (the baseline: fixed costs), 500 and 5,000
//! nodes, and reports the time to an interactive graph, the time to draw one frame while panning,
//! and the memory of the app and its web processes.
//!
//! Run: `scripts/bench-graph` (builds the front end and the app, then
//! `cargo bench -p stagecraft-app-e2e --bench graph` under Xvfb, after building the app).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{app_pid, click, open_on, tree_memory, wait_for, what_it_showed};
use stagecraft_sandbox::synthetic::{report, Size};

struct Figures {
    target: usize,
    analysis_ms: f64,
    /// The view the window opens on (clusters).
    closed: View,
    /// Every cluster open.
    open: View,
    rss_mb: f64,
}

struct View {
    nodes: usize,
    units: usize,
    edges: usize,
    layout_ms: f64,
    ready_ms: f64,
    frame_ms_mean: f64,
    frame_ms_p95: f64,
    /// Frames per second while panning, from the frames' own timestamps.
    fps: f64,
}

async fn measure(target: usize) -> Figures {
    let snapshot = report(Size::about(target));
    assert!(
        snapshot.resources.len() <= stagecraft_analysis::graph::PART_AT_MOST,
        "{} resources are more than the window draws at once",
        snapshot.resources.len()
    );
    let (_dir, _driver, client, _) = open_on(&snapshot).await;
    click(&client, "[data-testid=tab-org]").await;
    wait_for(
        &client,
        "[data-testid=findings-count], [data-testid=tab-findings]",
    )
    .await;
    // Wait until the analysis has arrived, then open the graph.
    let analysis_ms = loop {
        let v = client
            .execute(
                "return document.documentElement.dataset.analysisMs || ''",
                vec![],
            )
            .await
            .unwrap();
        if let Some(ms) = v.as_str().and_then(|s| s.parse::<f64>().ok()) {
            break ms;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    click(&client, "[data-testid=tab-graph]").await;
    wait_for(&client, "[data-testid=graph-stage]").await;
    // The whole organization, not one stage.
    client
        .execute(
            "const s = document.querySelector('[data-testid=graph-stage]'); s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![],
        )
        .await
        .unwrap();
    let closed = view_figures(&client, target, Duration::from_secs(60), |units, nodes| {
        units < nodes
    })
    .await;
    // Then every cluster open: every resource a box, every link drawn (the worst case for a frame).
    click(&client, "[data-testid=open-all]").await;
    let open = view_figures(&client, target, Duration::from_secs(60), |units, nodes| {
        units >= nodes
    })
    .await;
    let rss_mb = app_pid()
        .map(|pid| tree_memory(pid).rss_mib)
        .unwrap_or(f64::NAN);
    client.close().await.unwrap();
    Figures {
        target,
        analysis_ms,
        closed,
        open,
        rss_mb,
    }
}

/// Waits for the organization's layout that `wanted(units, nodes)` accepts (and at least `target`
/// nodes laid out: a run that did not reach its size fails), then pans 60 frames.
async fn view_figures(
    client: &fantoccini::Client,
    target: usize,
    within: Duration,
    wanted: impl Fn(usize, usize) -> bool,
) -> View {
    let read = |name: &'static str| async move {
        client
            .execute(
                &format!("const c = document.querySelector('[data-testid=graph-canvas]'); return c ? (c.getAttribute('{name}') || '') : '';"),
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
    };
    let deadline = std::time::Instant::now() + within;
    let (nodes, units) = loop {
        let nodes = read("data-nodes").await.unwrap_or(0.0) as usize;
        let units = read("data-units").await.unwrap_or(0.0) as usize;
        if nodes * 10 >= target * 9 && wanted(units, nodes) && read("data-ready-ms").await.is_some()
        {
            break (nodes, units);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the graph never showed about {target} nodes as asked (last: {nodes} nodes in {units} boxes)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready_ms = read("data-ready-ms").await.expect("time to interactive");
    let edges = read("data-edges").await.expect("edges") as usize;
    let layout_ms = client
        .execute(
            "return document.querySelector('[data-testid=graph]').dataset.layoutMs || ''",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .expect("layout time");

    // Pan: 60 drags, one per animation frame; the canvas records each frame's draw time, and the
    // frames' own timestamps give the rate the user sees.
    let frames = client
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            const c = document.querySelector('[data-testid=graph-canvas]');
            const r = c.getBoundingClientRect();
            let x = r.left + r.width / 2, y = r.top + r.height / 2, i = 0;
            const draws = [], stamps = [];
            c.dispatchEvent(new PointerEvent('pointerdown', {clientX: x, clientY: y, pointerId: 1, bubbles: true}));
            function step(t) {
              stamps.push(t);
              const drawn = c.dataset.drawMs;
              if (i > 0 && drawn) draws.push(parseFloat(drawn));
              if (i++ >= 60) {
                c.dispatchEvent(new PointerEvent('pointerup', {clientX: x, clientY: y, pointerId: 1, bubbles: true}));
                done({draws, stamps});
                return;
              }
              x -= 7; y -= 3;
              c.dispatchEvent(new PointerEvent('pointermove', {clientX: x, clientY: y, pointerId: 1, bubbles: true}));
              requestAnimationFrame(step);
            }
            requestAnimationFrame(step);
            "#,
            vec![],
        )
        .await
        .unwrap();
    let nums = |k: &str| -> Vec<f64> {
        frames[k]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
            .unwrap_or_default()
    };
    let mut times = nums("draws");
    assert!(
        times.len() >= 50,
        "only {} frames drawn while panning",
        times.len()
    );
    times.sort_by(f64::total_cmp);
    let stamps = nums("stamps");
    let span = stamps.last().copied().unwrap_or(0.0) - stamps.first().copied().unwrap_or(0.0);
    View {
        nodes,
        units,
        edges,
        layout_ms,
        ready_ms,
        frame_ms_mean: times.iter().sum::<f64>() / times.len() as f64,
        frame_ms_p95: times[(times.len() * 95 / 100).min(times.len() - 1)],
        fps: (stamps.len().saturating_sub(1)) as f64 * 1000.0 / span.max(1.0),
    }
}

/// The window on a large snapshot, as a user meets it.
struct Window {
    accounts: usize,
    resources: usize,
    /// From launching the app (the driver's clock: its own start-up included) to the window having
    /// painted the snapshot.
    first_paint_ms: f64,
    /// From launching to the analysis (graph, findings, matrix) in the window.
    analysis_ms: f64,
    /// The graph as the graph view opens (clusters): the first stage, or that stage's first
    /// account when the stage is larger than the window draws at once.
    stage: View,
    by_account: bool,
    rss_mb: f64,
}

/// Opens the window on a stored synthetic snapshot of `stages` stages of `accounts` accounts each
/// and measures the first paint, the analysis's arrival and one stage's graph.
async fn window(stages: usize, accounts: usize, services: usize) -> Window {
    let snapshot = report(Size {
        stages,
        accounts,
        services,
        functions: 4,
    });
    let resources = snapshot.resources.len();
    let (_dir, _driver, client, launched) = open_on(&snapshot).await;
    drop(snapshot);
    // The marks the window sets on the document element (`data-painted`, `data-analysis-ms`).
    let mark = |css: &'static str| {
        let client = client.clone();
        async move {
            client
                .wait()
                .at_most(Duration::from_secs(600))
                .every(Duration::from_millis(20))
                .for_element(fantoccini::Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("the window never showed {css}: {e}"));
            launched.elapsed().as_secs_f64() * 1000.0
        }
    };
    let first_paint_ms = mark("html[data-painted]").await;
    let cards = client
        .find_all(fantoccini::Locator::Css("[data-testid=account-card]"))
        .await
        .unwrap()
        .len();
    if cards == 0 {
        panic!(
            "the first paint shows no account; {}",
            what_it_showed(&client, "window-first-paint").await
        );
    }
    let analysis_ms = mark("html[data-analysis-ms]").await;
    click(&client, "[data-testid=tab-graph]").await;
    // The graph view opens on the first stage, its clusters closed; a stage larger than the window
    // draws at once (the core's `PART_AT_MOST`) opens on its first account, and says so.
    let per_stage = resources / stages;
    let by_account = per_stage > stagecraft_analysis::graph::PART_AT_MOST;
    if by_account {
        wait_for(&client, "[data-testid=graph-too-big]").await;
    }
    let stage = view_figures(
        &client,
        if by_account {
            per_stage / accounts
        } else {
            per_stage
        },
        Duration::from_secs(600),
        |units, nodes| units < nodes,
    )
    .await;
    let rss_mb = app_pid()
        .map(|pid| tree_memory(pid).rss_mib)
        .unwrap_or(f64::NAN);
    client.close().await.unwrap();
    Window {
        accounts: stages * accounts,
        resources,
        first_paint_ms,
        analysis_ms,
        stage,
        by_account,
        rss_mb,
    }
}

fn window_main(rt: &tokio::runtime::Runtime) {
    // About 300,000 resources: 1,000 accounts over 4 stages, as the scale benchmark's organization.
    // STAGECRAFT_BENCH_WINDOW=stages,accounts,services draws another size (a quick look).
    let size: Vec<usize> = std::env::var("STAGECRAFT_BENCH_WINDOW")
        .unwrap_or_default()
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let w = match size[..] {
        [stages, accounts, services] => rt.block_on(window(stages, accounts, services)),
        [] => rt.block_on(window(4, 250, 19)),
        _ => panic!(
            "STAGECRAFT_BENCH_WINDOW is stages,accounts,services (three numbers), e.g. 2,3,3"
        ),
    };
    let md = format!(
        "| snapshot | launch → first paint | launch → analysis in the window | the graph as it opens | nodes, boxes, edges | layout (worker) | open → interactive | pan frame draw mean / p95 | pan frames per second | app + webview RSS |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n| {} accounts, {} resources | {:.0} ms | {:.1} s | {} | {} / {} / {} | {:.0} ms | {:.0} ms | {:.1} / {:.1} ms | {:.0} | {:.0} MiB |\n",
        w.accounts,
        w.resources,
        w.first_paint_ms,
        w.analysis_ms / 1000.0,
        if w.by_account {
            "the first stage's first account (the stage is over 25,000 nodes)"
        } else {
            "the first stage"
        },
        w.stage.nodes,
        w.stage.units,
        w.stage.edges,
        w.stage.layout_ms,
        w.stage.ready_ms,
        w.stage.frame_ms_mean,
        w.stage.frame_ms_p95,
        w.stage.fps,
        w.rss_mb,
    );
    println!("\n{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-window.md");
    let _ = std::fs::write(out, md);
}

fn main() {
    if std::env::var_os("DISPLAY").is_none() {
        println!(
            "graph benchmark skipped: needs a display (run scripts/bench-graph, which uses Xvfb)"
        );
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    if std::env::args().any(|a| a == "--window") {
        window_main(&rt);
        return;
    }
    let mut rows = Vec::new();
    // The largest whole organization the window draws at once: `Size::about` builds a few nodes
    // more than asked, and past `PART_AT_MOST` the window shows a stage instead.
    let largest = stagecraft_analysis::graph::PART_AT_MOST * 24 / 25;
    for target in [50, 500, 5000, largest] {
        let f = rt.block_on(measure(target));
        println!(
            "{} nodes: analysis {:.0} ms; clusters: {} boxes, layout {:.0} ms, interactive {:.0} ms, {:.0} fps; open: {} boxes, layout {:.0} ms, interactive {:.0} ms, {:.0} fps; RSS {:.0} MiB",
            f.closed.nodes, f.analysis_ms, f.closed.units, f.closed.layout_ms, f.closed.ready_ms, f.closed.fps,
            f.open.units, f.open.layout_ms, f.open.ready_ms, f.open.fps, f.rss_mb
        );
        rows.push(f);
    }
    let mut md = String::from(
        "| graph | nodes | view | boxes | edges drawn | IPC `analysis` | layout (worker) | open → interactive | pan frame draw mean / p95 | pan frames per second | app + webview RSS |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in &rows {
        for (name, v) in [("clusters", &f.closed), ("every cluster open", &f.open)] {
            let first = name == "clusters";
            md.push_str(&format!(
                "| {} | {} | {name} | {} | {} | {} | {:.0} ms | {:.0} ms | {:.1} / {:.1} ms | {:.0} | {} |\n",
                if !first {
                    String::new()
                } else if f.target == 50 {
                    "baseline (≈50)".to_owned()
                } else {
                    format!("≈{}", f.target)
                },
                if first { v.nodes.to_string() } else { String::new() },
                v.units,
                v.edges,
                if first { format!("{:.0} ms", f.analysis_ms) } else { String::new() },
                v.layout_ms,
                v.ready_ms,
                v.frame_ms_mean,
                v.frame_ms_p95,
                v.fps,
                if first { format!("{:.0} MiB", f.rss_mb) } else { String::new() },
            ));
        }
    }
    println!("\n{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-graph.md");
    let _ = std::fs::write(out, md);
}
