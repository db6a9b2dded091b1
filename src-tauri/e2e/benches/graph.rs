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

use common::{click, open_app, wait_for};
use stagecraft_sandbox::synthetic::{report, Size};
use stagecraft_store::Store;

struct Figures {
    target: usize,
    nodes: usize,
    edges: usize,
    analysis_ms: f64,
    layout_ms: f64,
    ready_ms: f64,
    frame_ms_mean: f64,
    frame_ms_p95: f64,
    rss_mb: f64,
}

/// Resident memory of the app and every process below it (the web processes), in MiB.
fn tree_rss_mb(root: u32) -> f64 {
    let mut total_kb = 0u64;
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                total_kb += kb;
            }
        }
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            stack.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    total_kb as f64 / 1024.0
}

fn app_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        (exe.file_name()?.to_str()? == "stagecraft-app").then_some(pid)
    })
}

async fn measure(target: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("bench.db");
    {
        let mut store = Store::open(&store_path).unwrap();
        store.save(&report(Size::about(target))).unwrap();
    }
    let env = vec![
        (
            "STAGECRAFT_STORE".to_owned(),
            store_path.display().to_string(),
        ),
        ("STAGECRAFT_SCAN_ON_OPEN".to_owned(), "0".to_owned()),
        // No AWS here: a scan would fail, and it is not asked for.
        (
            "AWS_CONFIG_FILE".to_owned(),
            dir.path().join("none").display().to_string(),
        ),
    ];
    let (_driver, client) = open_app(&env).await;
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
    // The whole organization, not one stage.
    client
        .execute(
            "const s = document.querySelector('[data-testid=graph-stage]'); s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![],
        )
        .await
        .unwrap();
    let canvas = wait_for(&client, "[data-testid=graph-canvas][data-ready-ms]").await;
    // The first ready frame may be the first stage's; wait for the organization's.
    let mut nodes = 0usize;
    for _ in 0..200 {
        nodes = canvas
            .attr("data-nodes")
            .await
            .unwrap()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if nodes >= target {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attr = |name: &'static str| {
        let canvas = canvas.clone();
        async move {
            canvas
                .attr(name)
                .await
                .unwrap()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        }
    };
    let ready_ms = attr("data-ready-ms").await;
    let edges = attr("data-edges").await as usize;
    let graph = wait_for(&client, "[data-testid=graph]").await;
    let layout_ms = graph
        .attr("data-layout-ms")
        .await
        .unwrap()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);

    // Pan: 60 drags, one per animation frame, each frame's draw time recorded by the canvas.
    let frames = client
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            const c = document.querySelector('[data-testid=graph-canvas]');
            const r = c.getBoundingClientRect();
            let x = r.left + r.width / 2, y = r.top + r.height / 2, i = 0;
            const times = [];
            c.dispatchEvent(new PointerEvent('pointerdown', {clientX: x, clientY: y, pointerId: 1, bubbles: true}));
            function step() {
              const drawn = c.dataset.drawMs;
              if (i > 0 && drawn) times.push(parseFloat(drawn));
              if (i++ >= 60) {
                c.dispatchEvent(new PointerEvent('pointerup', {clientX: x, clientY: y, pointerId: 1, bubbles: true}));
                done(times);
                return;
              }
              x -= 7; y -= 3;
              c.dispatchEvent(new PointerEvent('pointermove', {clientX: x, clientY: y, pointerId: 1, bubbles: true}));
              requestAnimationFrame(() => requestAnimationFrame(step));
            }
            requestAnimationFrame(step);
            "#,
            vec![],
        )
        .await
        .unwrap();
    let mut times: Vec<f64> = frames
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    let frame_ms_mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let frame_ms_p95 = times
        .get((times.len() * 95 / 100).min(times.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN);
    let rss_mb = app_pid().map(tree_rss_mb).unwrap_or(f64::NAN);
    client.close().await.unwrap();
    Figures {
        target,
        nodes,
        edges,
        analysis_ms,
        layout_ms,
        ready_ms,
        frame_ms_mean,
        frame_ms_p95,
        rss_mb,
    }
}

fn main() {
    if std::env::var_os("DISPLAY").is_none() {
        println!(
            "graph benchmark skipped: needs a display (run scripts/bench-graph, which uses Xvfb)"
        );
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    for target in [50, 500, 5000] {
        let f = rt.block_on(measure(target));
        println!(
            "{} nodes: analysis {:.0} ms, layout {:.0} ms, interactive {:.0} ms, pan frame {:.1}/{:.1} ms, RSS {:.0} MiB",
            f.nodes, f.analysis_ms, f.layout_ms, f.ready_ms, f.frame_ms_mean, f.frame_ms_p95, f.rss_mb
        );
        rows.push(f);
    }
    let mut md = String::from(
        "| graph | nodes | links | IPC `analysis` | layout (worker) | open → interactive | pan frame mean / p95 | app + webview RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} / {:.1} ms | {:.0} MiB |\n",
            if f.target == 50 {
                "baseline (≈50)".to_owned()
            } else {
                format!("≈{}", f.target)
            },
            f.nodes,
            f.edges,
            f.analysis_ms,
            f.layout_ms,
            f.ready_ms,
            f.frame_ms_mean,
            f.frame_ms_p95,
            f.rss_mb
        ));
    }
    println!("\n{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-graph.md");
    let _ = std::fs::write(out, md);
}
