//! The CLI's progress line for `reconcile`: accounts done out of total, rate and ETA, redrawn
//! in place on standard error while that is a terminal. Elsewhere (a pipe, CI, Lambda) the
//! output stays plain. [`wanted`] and [`line`] are the pure decisions; [`follow`] draws, and
//! [`Stderr`] keeps log lines from running into the line.

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::metrics::{Invocation, SweepProgress};

/// Carriage return, then erase the whole line.
const CLEAR: &[u8] = b"\r\x1b[2K";

/// How often the line is redrawn.
pub const EVERY: Duration = Duration::from_millis(250);

/// Whether to draw: only when standard error is a terminal, and never in Lambda, in CI (some
/// runners give jobs a pseudo-terminal, yet their log keeps every redraw) or on a terminal
/// that cannot erase a line (`TERM=dumb`). `var` reads the environment.
pub fn wanted(stderr_is_terminal: bool, var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| {
        var(name).is_some_and(|v| {
            let v = v.trim();
            !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
        })
    };
    stderr_is_terminal
        && var("AWS_LAMBDA_RUNTIME_API").is_none()
        && !set("CI")
        && var("TERM").as_deref() != Some("dumb")
}

/// The line for `progress`, `elapsed` after the sweep started listing accounts:
/// `reconcile: 120/200 accounts (60%), 25.3 accounts/s, ETA 3s, 2 failed`.
pub fn line(progress: &SweepProgress, elapsed: Duration) -> String {
    let SweepProgress {
        to_do: total,
        done,
        failed,
        ..
    } = *progress;
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let secs = elapsed.as_secs_f64();
    let rate = (done > 0 && secs > 0.0).then(|| done as f64 / secs);
    let mut out = format!("reconcile: {done}/{total} accounts ({percent}%)");
    match rate {
        Some(r) => out.push_str(&format!(", {r:.1} accounts/s")),
        None => out.push_str(", -- accounts/s"),
    }
    match (progress.remaining, rate) {
        (Some(0), _) => out.push_str(&format!(", done in {}", clock(elapsed))),
        (Some(left), _) => out.push_str(&format!(
            ", stopped after {}: {left} left for the continuation",
            clock(elapsed)
        )),
        (None, Some(r)) => {
            let eta = Duration::from_secs_f64(total.saturating_sub(done) as f64 / r);
            out.push_str(&format!(", ETA {}", clock(eta)));
        }
        (None, None) => out.push_str(", ETA --"),
    }
    if failed > 0 {
        out.push_str(&format!(", {failed} failed"));
    }
    out
}

/// `42s`, `3m05s`, `1h02m`; tenths below ten seconds.
fn clock(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..10 => format!("{:.1}s", d.as_secs_f64()),
        10..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// The line on screen now, if any. Every write to standard error goes through it.
static SHOWN: Mutex<Option<String>> = Mutex::new(None);

fn shown() -> MutexGuard<'static, Option<String>> {
    SHOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn draw(text: &str, last: bool) {
    let mut shown = shown();
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(CLEAR)
        .and_then(|()| err.write_all(text.as_bytes()))
        .and_then(|()| if last { err.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| err.flush());
    *shown = (!last).then(|| text.to_owned());
}

fn clear() {
    let mut shown = shown();
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(CLEAR).and_then(|()| err.flush());
    *shown = None;
}

/// Runs `work` in `metrics`' scope while drawing its sweep's progress every [`EVERY`]; the
/// final state stays on screen.
pub async fn follow<F: Future>(metrics: &Arc<Invocation>, work: F) -> F::Output {
    let text = || match metrics.sweep_progress() {
        Some(p) => line(&p, p.started.elapsed()),
        None => "reconcile: listing the organization's accounts and variable sets".to_owned(),
    };
    let redraw = async {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last = String::new();
        loop {
            ticks.tick().await;
            let now = text();
            if now != last {
                draw(&now, false);
                last = now;
            }
        }
    };
    let out = tokio::select! {
        out = metrics.scope(work) => out,
        never = redraw => never,
    };
    match metrics.sweep_progress() {
        Some(p) => draw(&line(&p, p.started.elapsed()), true),
        // Refused before it started (a bad continuation): the error says why.
        None => clear(),
    }
    out
}

/// Standard error for the CLI's logs. While a progress line is on screen, a log line erases
/// it, is written, and the progress line is drawn again below it.
#[derive(Clone, Copy, Default)]
pub struct Stderr;

impl std::io::Write for Stderr {
    // tracing formats each event into one buffer and writes it whole, newline included.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let shown = shown();
        let mut err = std::io::stderr().lock();
        match shown.as_deref() {
            Some(progress) => {
                err.write_all(CLEAR)?;
                err.write_all(buf)?;
                if buf.ends_with(b"\n") {
                    err.write_all(progress.as_bytes())?;
                }
            }
            None => err.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn progress(to_do: usize, done: usize, failed: usize) -> SweepProgress {
        SweepProgress {
            in_organization: to_do + 7,
            to_do,
            done,
            failed,
            remaining: None,
            continuation: None,
            started: tokio::time::Instant::now(),
        }
    }

    #[test]
    fn the_line_is_drawn_only_on_a_terminal_outside_lambda_and_ci() {
        let term = &[("TERM", "xterm-256color")];
        assert!(wanted(true, env(term)));
        assert!(wanted(true, env(&[])), "no TERM is not a dumb terminal");
        assert!(!wanted(false, env(term)), "a pipe or a file");
        assert!(!wanted(true, env(&[("TERM", "dumb")])));
        assert!(!wanted(
            true,
            env(&[
                ("TERM", "xterm"),
                ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
            ])
        ));
        assert!(!wanted(true, env(&[("TERM", "xterm"), ("CI", "true")])));
        assert!(!wanted(true, env(&[("TERM", "xterm"), ("CI", "1")])));
        assert!(!wanted(true, env(&[("CI", "yes")])));
        assert!(wanted(true, env(&[("CI", "false")])));
        assert!(wanted(true, env(&[("CI", "0")])));
        assert!(wanted(true, env(&[("CI", "")])));
    }

    #[test]
    fn the_line_says_done_out_of_total_rate_and_eta() {
        let p = progress(200, 120, 0);
        assert_eq!(
            line(&p, Duration::from_secs(4)),
            "reconcile: 120/200 accounts (60%), 30.0 accounts/s, ETA 2.7s"
        );
        let p = progress(1000, 100, 2);
        assert_eq!(
            line(&p, Duration::from_secs(10)),
            "reconcile: 100/1000 accounts (10%), 10.0 accounts/s, ETA 1m30s, 2 failed"
        );
        let p = progress(100_000, 10, 0);
        assert_eq!(
            line(&p, Duration::from_secs(10)),
            "reconcile: 10/100000 accounts (0%), 1.0 accounts/s, ETA 27h46m"
        );
    }

    #[test]
    fn before_the_first_account_there_is_no_rate_and_no_eta() {
        let p = progress(50, 0, 0);
        assert_eq!(
            line(&p, Duration::from_millis(300)),
            "reconcile: 0/50 accounts (0%), -- accounts/s, ETA --"
        );
        assert_eq!(
            line(&p, Duration::ZERO),
            "reconcile: 0/50 accounts (0%), -- accounts/s, ETA --"
        );
    }

    #[test]
    fn the_last_line_says_how_it_ended() {
        let mut p = progress(30, 30, 1);
        p.remaining = Some(0);
        assert_eq!(
            line(&p, Duration::from_millis(1500)),
            "reconcile: 30/30 accounts (100%), 20.0 accounts/s, done in 1.5s, 1 failed"
        );
        let mut p = progress(30, 12, 0);
        p.remaining = Some(18);
        p.continuation = Some("123456789012".into());
        assert_eq!(
            line(&p, Duration::from_secs(75)),
            "reconcile: 12/30 accounts (40%), 0.2 accounts/s, stopped after 1m15s: 18 left for the continuation"
        );
        let mut p = progress(0, 0, 0);
        p.remaining = Some(0);
        assert_eq!(
            line(&p, Duration::from_millis(200)),
            "reconcile: 0/0 accounts (100%), -- accounts/s, done in 0.2s"
        );
    }
}
