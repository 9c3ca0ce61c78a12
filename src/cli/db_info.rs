//! `ringscan db info PATH...`: the load report.

use std::path::PathBuf;

use clap::Args;

use super::DbArgs;
use crate::db;

/// Arguments of `db info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Database files or directories (added to any `--db`).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Loads the databases and prints the report; exit 2 when the load fails.
pub fn run(args: InfoArgs) -> u8 {
    match db::load(&args.db.load_options(&args.paths)) {
        Ok((_engine, report)) => {
            let text = if args.json {
                serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
            } else {
                report.to_string()
            };
            match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
                Err(e) if !super::is_broken_pipe(&e) => 2,
                _ => 0,
            }
        }
        Err(e) => {
            eprintln!("ERROR: {e}");
            2
        }
    }
}
