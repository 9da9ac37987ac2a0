//! A short torture run (see `switchyard_tests::torture`): kills, hot swaps, a dead-letter
//! path and counted plugin effects, with no promise broken.

use switchyard_tests::torture::{Options, run};

use crate::SERVER_BIN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_torture_run_breaks_no_promise() -> anyhow::Result<()> {
    let report = run(Options {
        seconds: 16,
        kills: 3,
        publishers: 2,
        consumers: 2,
        server_bin: SERVER_BIN.into(),
    })
    .await?;
    eprint!("{report}");
    assert_eq!(report.violations(), Vec::<String>::new(), "{report}");
    assert_eq!(report.kills, 3);
    assert!(
        report.published > 100 && report.dead_lettered > 0 && report.swaps > 0,
        "{report}"
    );
    Ok(())
}
