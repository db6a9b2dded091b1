//! Progress of a scan on a terminal: one bar per account, fed by the scan's events.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use stagecraft_aws::scan::ScanEvent;

/// One progress bar per account on a terminal.
#[derive(Default)]
pub(crate) struct Bars {
    pub(crate) multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub(crate) fn update(&self, event: &ScanEvent) {
        let style = ProgressStyle::with_template("{prefix:<22} {bar:24} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            ScanEvent::Discovered { accounts, .. } => {
                for a in accounts {
                    let bar = self.multi.add(ProgressBar::new(1));
                    bar.set_style(style.clone());
                    bar.set_prefix(format!("{} {}", a.name, a.stage.as_deref().unwrap_or("")));
                    bars.insert(a.id.clone(), bar);
                }
            }
            ScanEvent::AccountProgress {
                account_id,
                step,
                done,
                total,
            } => {
                if let Some(bar) = bars.get(account_id) {
                    bar.set_length(u64::from(*total));
                    bar.set_position(u64::from(*done));
                    bar.set_message(step.clone());
                }
            }
            ScanEvent::AccountFinished { account } => {
                if let Some(bar) = bars.get(&account.id) {
                    bar.finish_with_message(match (&account.error, account.collect_errors.len()) {
                        (Some(e), _) => format!("✗ {}", e.code),
                        (None, 0) => "✔".to_owned(),
                        (None, n) => format!("◐ {n} collector(s) failed"),
                    });
                }
            }
            ScanEvent::Phase { detail, .. } => {
                self.multi.println(detail).ok();
            }
            ScanEvent::Started { .. } | ScanEvent::Finished { .. } => {}
        }
    }
}
