//! Random faults on about a given share of all requests, from a seed (see `dice`): what a
//! Terraform Cloud incident looks like to a client. Every fault is an answer the service (or
//! the load balancer in front of it) gives: a 429 with `X-RateLimit-Reset`, a 500, 502 or 503,
//! an answer slower than the client waits, a connection dropped before the request was
//! handled, a write that was handled but answered 502 or 504, and an answer cut off mid-body.

use std::time::Duration;

use axum::http::Method;

use super::super::dice::{between, pick, Dice};
use super::state::World;
use super::FaultKind;

#[derive(Clone, Debug)]
pub struct Chaos {
    pub seed: u64,
    /// Share of requests that get a fault, 0 to 1.
    pub rate: f64,
    /// How long a slow answer takes; longer than the client's timeout, to be a fault.
    pub slow: Duration,
}

pub(super) struct Run {
    chaos: Chaos,
    dice: Dice,
}

impl Run {
    pub(super) fn new(chaos: Chaos) -> Run {
        Run {
            dice: Dice::new(chaos.seed, chaos.rate),
            chaos,
        }
    }

    /// The fault for this request, if the dice say so, with a label for the log. The request is
    /// known by its method, path, query and body, with ids (random in every run) replaced by
    /// the names they stand for, so the same seed faults the same requests in every run.
    pub(super) fn roll(
        &self,
        world: &World,
        method: &Method,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Option<(FaultKind, &'static str)> {
        let key = named(
            world,
            &format!("{method} {path}?{query} {}", String::from_utf8_lossy(body)),
        );
        let r = self.dice.roll(&key)?;
        let mut kinds = vec![
            (FaultKind::RateLimitedReset(between(r, 0.1, 1.0)), "429"),
            (FaultKind::Status(500), "500"),
            (FaultKind::Status(502), "502"),
            (FaultKind::Status(503), "503"),
            (FaultKind::Delay(self.chaos.slow), "slow"),
            (FaultKind::Reset, "connection-reset"),
            (FaultKind::Truncated, "truncated"),
        ];
        if method != Method::GET {
            kinds.push((FaultKind::SucceedThen(502), "write-then-502"));
            kinds.push((FaultKind::SucceedThen(504), "write-then-504"));
        }
        Some(pick(r, &kinds))
    }
}

/// `text` with every variable set id replaced by the set's name, and every variable id by
/// `<set name>/<key>`.
fn named(world: &World, text: &str) -> String {
    let mut out = text.to_owned();
    for set in &world.varsets {
        if out.contains(&set.id) {
            out = out.replace(&set.id, &set.name);
        }
        for var in &set.vars {
            if out.contains(&var.var.id) {
                out = out.replace(&var.var.id, &format!("{}/{}", set.name, var.var.key));
            }
        }
    }
    out
}
