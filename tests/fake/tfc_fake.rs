//! The project's Terraform Cloud fake as a standalone server on 127.0.0.1, for programs
//! outside the Rust tests (the deploy rehearsal in tests/rehearsal):
//!
//! ```text
//! tfc-fake --organization NAME [--organization NAME]...
//! ```
//!
//! The API token is read from `TFC_FAKE_TOKEN` or, when that is unset, from the first line
//! of standard input; it is never taken from the command line, where every user of the
//! machine could read it. The server's URL is printed as the first line of standard
//! output. It serves until standard input closes (when the token came from there, so it
//! never outlives the program that started it) or until it is interrupted.

#[path = "../support/mod.rs"]
mod support;

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

use support::tfc_fake::{FakeOptions, TfcFake};

const USAGE: &str = "usage: tfc-fake --organization NAME [--organization NAME]...
The token comes from TFC_FAKE_TOKEN, or else from the first line of standard input.";

#[tokio::main]
async fn main() -> ExitCode {
    let mut organizations = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--organization", Some(name)) if !name.trim().is_empty() => organizations.push(name),
            ("-h" | "--help", _) => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("tfc-fake: unexpected argument `{arg}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if organizations.is_empty() {
        eprintln!("tfc-fake: at least one --organization is required\n{USAGE}");
        return ExitCode::from(2);
    }

    let from_env = std::env::var("TFC_FAKE_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let stdin_is_lifeline = from_env.is_none();
    let token = match from_env {
        Some(token) => token,
        None => {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
                eprintln!("tfc-fake: cannot read the token from standard input: {e}");
                return ExitCode::FAILURE;
            }
            line
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        eprintln!("tfc-fake: no token: set TFC_FAKE_TOKEN or write it on standard input\n{USAGE}");
        return ExitCode::from(2);
    }

    let fake = TfcFake::start(FakeOptions {
        token,
        organizations,
        ..FakeOptions::default()
    })
    .await;
    println!("{}", fake.url());
    if std::io::stdout().flush().is_err() {
        return ExitCode::FAILURE;
    }

    if stdin_is_lifeline {
        // Serves until whoever holds the other end of standard input goes away.
        let _ = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().lock().read_to_end(&mut Vec::new());
        })
        .await;
    } else if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("tfc-fake: cannot wait for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
