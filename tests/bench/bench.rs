//! The performance figures of issue 6, taken from the real release binary running as a Lambda
//! (through a local Runtime API) against moto and the Terraform Cloud fake on loopback.
//! `tests/bench.sh` builds what this program measures and is the one command to run; every
//! figure is printed as a table against its target, then as JSON.

#[path = "../support/mod.rs"]
mod support;

mod burst;
mod org;
mod readiness;
mod soak;
mod sweep_loop;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::{json, Value};

use support::env::sample_event;
use support::fault_proxy::FaultProxy;
use support::moto::Moto;
use support::runtime_api::{Outcome, RuntimeApi};
use support::tfc_fake::{FakeOptions, TfcFake};

const ORG: &str = "acme";
const TOKEN: &str = "bench-token-0123456789abcdefghijklmnop";
const MIB: f64 = 1024.0 * 1024.0;
/// The largest synchronous response Lambda returns; a sweep summary above it fails the
/// invocation in AWS even though the local Runtime API accepts it.
const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;
/// Lambda's longest allowed timeout, so the sweep is never cut short by its own budget.
const SWEEP_DEADLINE: Duration = Duration::from_secs(900);
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Measures cold start, one onboarding, peak memory, sweep scale and the deployment artifact.
#[derive(Parser)]
#[command(name = "bench")]
struct Args {
    /// The release binary to run as the Lambda.
    #[arg(long)]
    binary: PathBuf,
    /// Few samples and small sweeps, for CI.
    #[arg(long)]
    quick: bool,
    /// Write the JSON here instead of printing it after the table.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Process starts for the cold-start median (default 20, quick 5).
    #[arg(long)]
    cold_starts: Option<usize>,
    /// Sweep sizes in accounts, comma-separated (default 200,1000; quick 10,30).
    #[arg(long, value_delimiter = ',')]
    sweep_sizes: Option<Vec<usize>>,
    /// Latency of every Terraform Cloud fake response, as LOW-HIGH milliseconds.
    #[arg(long, default_value = "20-50")]
    tfc_latency_ms: String,
    /// Requests per second the Terraform Cloud fake admits (the documented API limit is 30).
    #[arg(long, default_value_t = 30)]
    tfc_rate_limit: u32,
    /// ONBOARD_CONCURRENCY given to the Lambda for sweeps.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The deployment zip to report (from `cargo lambda build --output-format zip`).
    #[arg(long)]
    zip: Option<PathBuf>,
    /// Architecture the zip was built for.
    #[arg(long, default_value = "arm64")]
    zip_arch: String,
    /// Why the zip is missing or not for arm64, shown next to its figure.
    #[arg(long)]
    zip_note: Option<String>,
    /// Exit with status 2 when any target is missed (measurement errors always exit 1).
    #[arg(long)]
    strict: bool,
    /// Keep the Lambda processes' logs (set RUST_LOG to choose their level).
    #[arg(long)]
    keep_logs: bool,
    /// Seconds a new account stays closed in the readiness measure, comma-separated
    /// (default 10,40,120; quick 5).
    #[arg(long, value_delimiter = ',')]
    readiness_closed_secs: Option<Vec<u64>>,
    /// Accounts measured at once for each closed time (default 5, quick 2).
    #[arg(long)]
    readiness_runs: Option<usize>,
    /// Measure only the readiness of new accounts (e.g. to compare two binaries).
    #[arg(long)]
    readiness_only: bool,
    /// Accounts of the sweep driven over its continuations (default 1000, quick 60).
    #[arg(long)]
    loop_accounts: Option<usize>,
    /// Events of the burst drained through the queue (default 300, quick 60).
    #[arg(long)]
    burst_events: Option<usize>,
    /// Containers draining the burst (the module's event_max_concurrency; default 2).
    #[arg(long)]
    burst_containers: Option<usize>,
    /// Run only the chaos soak (issue 12): a sweep under random faults, with overlapping
    /// account events, until every account has converged.
    #[arg(long)]
    soak: bool,
    /// Seed of the soak's organization and faults; the same seed replays a run.
    #[arg(long, default_value_t = 12)]
    seed: u64,
    /// Accounts in the soak's organization (default 500, quick 60).
    #[arg(long)]
    soak_accounts: Option<usize>,
    /// Account events during the soak's first sweep (default 50, quick 10).
    #[arg(long)]
    soak_events: Option<usize>,
    /// Shares of calls that get a random fault, one soak each (default 0.05,0.15).
    #[arg(long, value_delimiter = ',')]
    fault_rates: Option<Vec<f64>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    Met,
    Missed,
    /// A figure without a target, or one whose target does not apply at this size.
    Info,
}

struct Row {
    measure: String,
    figure: String,
    target: String,
    verdict: Verdict,
    source: &'static str,
}

#[derive(Default)]
struct Results {
    rows: Vec<Row>,
    json: serde_json::Map<String, Value>,
    errors: Vec<String>,
}

impl Results {
    fn row(
        &mut self,
        measure: impl Into<String>,
        figure: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
        source: &'static str,
    ) {
        self.rows.push(Row {
            measure: measure.into(),
            figure: figure.into(),
            target: target.into(),
            verdict,
            source,
        });
    }

    fn check(
        &mut self,
        measure: impl Into<String>,
        figure: impl Into<String>,
        target: impl Into<String>,
        met: bool,
        source: &'static str,
    ) {
        let verdict = if met { Verdict::Met } else { Verdict::Missed };
        self.row(measure, figure, target, verdict, source);
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let binary = match std::fs::canonicalize(&args.binary) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench: cannot use --binary {}: {e}", args.binary.display());
            return ExitCode::FAILURE;
        }
    };
    let latency = match parse_range_ms(&args.tfc_latency_ms) {
        Some(l) => l,
        None => {
            eprintln!("bench: --tfc-latency-ms must look like 20-50");
            return ExitCode::FAILURE;
        }
    };
    let cold_starts = args
        .cold_starts
        .unwrap_or(if args.quick { 5 } else { 20 })
        .max(1);
    let mut sizes = args.sweep_sizes.clone().unwrap_or_else(|| {
        if args.quick {
            vec![10, 30]
        } else {
            vec![200, 1000]
        }
    });
    sizes.retain(|&n| n > 0);
    sizes.sort_unstable();
    sizes.dedup();
    let logs = std::env::temp_dir().join(format!("tfc-onboarder-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&logs) {
        eprintln!("bench: cannot create {}: {e}", logs.display());
        return ExitCode::FAILURE;
    }
    let ctx = Ctx {
        binary,
        logs: logs.clone(),
        fake: FakeOptions {
            token: TOKEN.into(),
            organizations: vec![ORG.into()],
            // The real API's largest page.
            max_page_size: 100,
            latency: Some(latency),
            rate_limit_per_sec: Some(args.tfc_rate_limit),
            ..FakeOptions::default()
        },
        rate_limit: args.tfc_rate_limit,
        concurrency: args.concurrency,
    };

    let mut res = Results::default();
    res.json.insert("machine".into(), machine());
    res.json.insert(
        "settings".into(),
        json!({
            "mode": match (args.soak, args.quick) {
                (true, true) => "soak, quick",
                (true, false) => "soak",
                (false, true) => "quick",
                (false, false) => "full",
            },
            "binary_bytes": std::fs::metadata(&ctx.binary).map(|m| m.len()).ok(),
            "cold_starts": cold_starts,
            "sweep_sizes": sizes,
            "tfc_latency_ms": [latency.0.as_millis() as u64, latency.1.as_millis() as u64],
            "tfc_rate_limit_per_sec": args.tfc_rate_limit,
            "concurrency": args.concurrency,
        }),
    );
    let soak_plan = args.soak.then(|| {
        soak::Plan::new(
            args.quick,
            args.soak_accounts,
            args.soak_events,
            args.fault_rates.as_deref(),
            args.seed,
        )
    });
    let started = Instant::now();

    let measured = match soak_plan {
        Some(plan) => soak::soak(&ctx, &plan, &mut res)
            .await
            .map_err(|e| format!("soak: {e}")),
        None => performance(&args, &ctx, cold_starts, &sizes, &mut res).await,
    };
    if let Err(e) = measured {
        res.errors.push(e);
    }

    res.json.insert(
        "duration_s".into(),
        json!(round(started.elapsed().as_secs_f64(), 1)),
    );
    res.json.insert(
        "targets".into(),
        Value::Array(res.rows.iter().map(row_json).collect()),
    );
    res.json.insert("errors".into(), json!(res.errors));

    print_table(&res);
    let text = serde_json::to_string_pretty(&Value::Object(res.json.clone())).unwrap_or_default();
    match &args.json {
        Some(path) => match std::fs::write(path, format!("{text}\n")) {
            Ok(()) => println!("\nJSON written to {}", path.display()),
            Err(e) => {
                eprintln!("bench: cannot write {}: {e}", path.display());
                res.errors.push(format!("writing the JSON: {e}"));
            }
        },
        None => println!("\n{text}"),
    }

    if !res.errors.is_empty() {
        eprintln!(
            "\nbench: {} measurement(s) failed; Lambda logs kept in {}",
            res.errors.len(),
            logs.display()
        );
        for e in &res.errors {
            eprintln!("  - {e}");
        }
        return ExitCode::FAILURE;
    }
    if args.keep_logs {
        eprintln!("bench: Lambda logs kept in {}", logs.display());
    } else {
        let _ = std::fs::remove_dir_all(&logs);
    }
    let missed = res
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Missed)
        .count();
    if missed > 0 {
        eprintln!("\nbench: {missed} target(s) missed");
        if args.strict {
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// Issue 6's figures and issue 11's readiness: cold start, one onboarding, readiness, sweep
/// scale and the artifact.
async fn performance(
    args: &Args,
    ctx: &Ctx,
    cold_starts: usize,
    sizes: &[usize],
    res: &mut Results,
) -> Result<(), String> {
    // Managed policies are loaded so the default role policy (AdministratorAccess) attaches.
    step("starting moto with the AWS-managed policies");
    let moto = tokio::task::spawn_blocking(|| Moto::start(true))
        .await
        .map_err(|e| format!("moto did not start: {e}"))?;
    moto.ensure_organization().await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let tfc = TfcFake::start(ctx.fake.clone()).await;

    if !args.readiness_only {
        if let Err(e) = cold_start(ctx, &proxy, &tfc, cold_starts, res).await {
            res.errors.push(format!("cold start: {e}"));
        }
        if let Err(e) = onboarding(ctx, &moto, &proxy, &tfc, res).await {
            res.errors.push(format!("one onboarding: {e}"));
        }
    }
    let plans = readiness::plan(
        args.quick,
        args.readiness_closed_secs.as_deref(),
        args.readiness_runs,
    );
    if let Err(e) = readiness::readiness(ctx, &moto, &proxy, &tfc, &plans, res).await {
        res.errors.push(format!("readiness: {e}"));
    }
    drop((proxy, tfc, moto));

    if !args.readiness_only {
        let mut sweeps = Vec::new();
        for &n in sizes {
            match sweep(ctx, n, res).await {
                Ok(s) => sweeps.push(s),
                Err(e) => res.errors.push(format!("sweep over {n} accounts: {e}")),
            }
        }
        linearity(&sweeps, res);
        res.json.insert("sweeps".into(), Value::Array(sweeps));
        let plan = sweep_loop::plan(args.quick, args.loop_accounts);
        match sweep_loop::sweep_loop(ctx, &plan, res).await {
            Ok(figures) => drop(res.json.insert("sweep_loop".into(), figures)),
            Err(e) => res.errors.push(format!("sweep loop: {e}")),
        }
        let plan = burst::plan(args.quick, args.burst_events, args.burst_containers);
        match burst::burst(ctx, &plan, res).await {
            Ok(figures) => drop(res.json.insert("burst".into(), figures)),
            Err(e) => res.errors.push(format!("burst: {e}")),
        }
        artifact(args, res);
    }
    Ok(())
}

struct Ctx {
    binary: PathBuf,
    logs: PathBuf,
    fake: FakeOptions,
    rate_limit: u32,
    concurrency: usize,
}

impl Ctx {
    /// The environment of a deployed function: Lambda's own variables, the execution role's
    /// session credentials, and this tool's configuration; nothing inherited from the shell.
    fn lambda_env(
        &self,
        proxy: &FaultProxy,
        tfc: &TfcFake,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let proxy_url = proxy.url();
        let tfc_url = tfc.url();
        let mut vars: Vec<(String, String)> = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_SESSION_TOKEN", "testing"),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("_HANDLER", "bootstrap"),
            ("TZ", ":UTC"),
            ("AWS_ENDPOINT_URL", proxy_url.as_str()),
            ("TFE_ORGANIZATION", ORG),
            ("TFE_TOKEN", TOKEN),
            ("TFE_ADDRESS", tfc_url.as_str()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        // The one variable taken from the shell: a log level for looking into a figure.
        if let Ok(level) = std::env::var("RUST_LOG") {
            vars.push(("RUST_LOG".into(), level));
        }
        vars
    }
}

/// The binary as a Lambda function: its own Runtime API, killed when dropped.
struct Lambda {
    child: Child,
    api: RuntimeApi,
    spawned: Instant,
    log: PathBuf,
}

impl Lambda {
    async fn spawn(
        ctx: &Ctx,
        vars: &[(String, String)],
        name: &str,
        deadline: Duration,
    ) -> Result<Lambda, String> {
        let api = RuntimeApi::start().await;
        api.set_deadline(deadline);
        let log = ctx.logs.join(format!("{name}.log"));
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&ctx.binary);
        cmd.env_clear()
            .envs(api.env_for_process())
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", ctx.binary.display()))?;
        Ok(Lambda {
            child,
            api,
            spawned,
            log,
        })
    }

    /// Time from spawn to the first request for an event, i.e. the end of initialisation.
    async fn ready(&mut self) -> Result<Duration, String> {
        let give_up = Instant::now() + READY_TIMEOUT;
        while Instant::now() < give_up {
            if let Some(at) = self.api.first_next_at() {
                return Ok(at.duration_since(self.spawned));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "exited during init ({status}): {}",
                    tail(&self.log)
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Err(format!(
            "not ready within {READY_TIMEOUT:?}: {}",
            tail(&self.log)
        ))
    }

    async fn invoke(
        &mut self,
        event: Value,
        timeout: Duration,
    ) -> Result<(Value, Duration), String> {
        let started = Instant::now();
        let id = self.api.push_event(event);
        let outcome = self.api.wait_outcome(&id, timeout).await;
        let wall = started.elapsed();
        match outcome {
            Outcome::Response(v) => Ok((v, wall)),
            Outcome::Error {
                error_type,
                message,
            } => Err(format!("{error_type}: {message}")),
            Outcome::TimedOut => Err(format!(
                "no outcome within {timeout:?}: {}",
                tail(&self.log)
            )),
        }
    }

    /// The process's high-water resident set (VmHWM), read while it is still alive.
    fn peak_rss(&self) -> Result<u64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .map_err(|e| e.to_string())?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| "no VmHWM in /proc/<pid>/status".into())
    }

    /// User + system CPU time the process has used so far.
    fn cpu_time(&self) -> Result<Duration, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map_err(|e| e.to_string())?;
        // The command name in parentheses may contain spaces; the fields after it do not.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        // utime and stime are the 14th and 15th fields of the whole line.
        let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
            return Err("unexpected /proc/<pid>/stat".into());
        };
        // SAFETY: sysconf only reads a constant of the running system.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Duration::from_nanos((user + system) * 1_000_000_000 / hz))
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn cold_start(
    ctx: &Ctx,
    proxy: &FaultProxy,
    tfc: &TfcFake,
    samples: usize,
    res: &mut Results,
) -> Result<(), String> {
    step(&format!(
        "cold start: {samples} starts of the release binary (after one discarded warm-up)"
    ));
    let vars = ctx.lambda_env(proxy, tfc, &[]);
    let mut times = Vec::with_capacity(samples);
    // The first start also pays for reading the binary from disk, which Lambda's own image
    // loading replaces; it is not counted.
    for i in 0..=samples {
        let mut lambda = Lambda::spawn(ctx, &vars, "cold-start", Duration::from_secs(60)).await?;
        let t = lambda.ready().await?;
        drop(lambda);
        if i > 0 {
            times.push(t);
        }
    }
    let ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let stats = stats(&ms);
    eprintln!(
        "  median {:.2} ms (min {:.2}, max {:.2})",
        stats.median, stats.min, stats.max
    );
    res.check(
        format!("cold start, median of {samples}"),
        format!("{:.2} ms", stats.median),
        "<= 20 ms",
        stats.median <= 20.0,
        "spawn of the release binary -> its first GET /runtime/invocation/next on the local Runtime API",
    );
    res.row(
        "cold start, p90 / max",
        format!("{:.2} / {:.2} ms", stats.p90, stats.max),
        "-",
        Verdict::Info,
        "same samples",
    );
    res.json.insert(
        "cold_start_ms".into(),
        json!({"median": round(stats.median, 3), "p90": round(stats.p90, 3), "min": round(stats.min, 3), "max": round(stats.max, 3),
               "samples": ms.iter().map(|m| round(*m, 3)).collect::<Vec<_>>()}),
    );
    Ok(())
}

async fn onboarding(
    ctx: &Ctx,
    moto: &Moto,
    proxy: &FaultProxy,
    tfc: &TfcFake,
    res: &mut Results,
) -> Result<(), String> {
    step("one onboarding: a fresh account, then the same event again");
    let account = moto.create_account("bench-fresh", &[]).await;
    // moto builds an account's IAM backend, loading every managed policy, on its first IAM
    // call there (0.6-1.3 s here); real IAM has no such cost, so it is paid outside the
    // measurement, straight to moto and so not counted by the proxy.
    let iam = aws_sdk_iam::Client::new(&moto.member_sdk_config(&account).await);
    iam.list_roles()
        .send()
        .await
        .map_err(|e| format!("warming moto's IAM for {account}: {e}"))?;
    let event = sample_event("create-account-result.json", &account);
    let vars = ctx.lambda_env(proxy, tfc, &[]);
    let mut lambda = Lambda::spawn(ctx, &vars, "onboarding", Duration::from_secs(300)).await?;
    let init = lambda.ready().await?;
    proxy.clear_calls();
    tfc.clear_requests();

    let (fresh, fresh_wall) = lambda
        .invoke(event.clone(), Duration::from_secs(120))
        .await?;
    let rss = lambda.peak_rss()?;
    let cpu = lambda.cpu_time()?;
    let fresh_counts = Counts::take(proxy, tfc);
    expect_outcome(&fresh, "onboarded")?;
    proxy.clear_calls();
    tfc.clear_requests();
    let (rerun, rerun_wall) = lambda.invoke(event, Duration::from_secs(120)).await?;
    let rerun_counts = Counts::take(proxy, tfc);
    expect_outcome(&rerun, "unchanged")?;
    let rss_after_rerun = lambda.peak_rss()?;
    drop(lambda);
    eprintln!(
        "  fresh: {:.0} ms, {} AWS / {} Terraform Cloud calls; re-run: {:.0} ms, {} writes",
        ms(fresh_wall),
        fresh_counts.aws,
        fresh_counts.tfc,
        ms(rerun_wall),
        rerun_counts.aws_writes + rerun_counts.tfc_writes
    );

    let src_aws = "calls recorded by the fault proxy the binary's AWS_ENDPOINT_URL points at";
    let src_tfc = "the Terraform Cloud fake's request log";
    res.row(
        "fresh account: wall time",
        format!("{:.0} ms", ms(fresh_wall)),
        "-",
        Verdict::Info,
        "event pushed -> response posted to the Runtime API (moto on loopback, fake with latency)",
    );
    res.check(
        "fresh account: AWS calls",
        format!("{} ({} writes)", fresh_counts.aws, fresh_counts.aws_writes),
        "<= 10",
        fresh_counts.aws <= 10,
        src_aws,
    );
    let tfc_limit = 2 + fresh_counts.tfc_list_pages;
    res.check(
        "fresh account: Terraform Cloud calls",
        format!(
            "{} ({} writes, {} list pages)",
            fresh_counts.tfc, fresh_counts.tfc_writes, fresh_counts.tfc_list_pages
        ),
        format!("<= 2 + pages = {tfc_limit}"),
        fresh_counts.tfc <= tfc_limit,
        src_tfc,
    );
    res.row(
        "re-run: wall time",
        format!("{:.0} ms", ms(rerun_wall)),
        "-",
        Verdict::Info,
        "same, warm process",
    );
    res.row(
        "re-run: calls",
        format!(
            "{} AWS, {} Terraform Cloud",
            rerun_counts.aws, rerun_counts.tfc
        ),
        "-",
        Verdict::Info,
        "fault proxy + fake log",
    );
    res.check(
        "re-run: writes",
        format!("{} AWS, {} Terraform Cloud", rerun_counts.aws_writes, rerun_counts.tfc_writes),
        "0",
        rerun_counts.aws_writes + rerun_counts.tfc_writes == 0,
        "writes: non-read AWS actions at the proxy; mutating requests that reached the fake's handlers",
    );
    res.check(
        "peak RSS, one onboarding",
        mib(rss),
        "<= 32 MiB",
        rss as f64 <= 32.0 * MIB,
        "VmHWM of the Lambda process (/proc/<pid>/status) after init + one fresh onboarding",
    );
    res.json.insert(
        "onboarding".into(),
        json!({
            "init_ms": round(ms(init), 3),
            "cpu_ms_init_and_fresh": round(ms(cpu), 1),
            "fresh": fresh_counts.json(fresh_wall),
            "rerun": rerun_counts.json(rerun_wall),
            "peak_rss_bytes": rss,
            "peak_rss_bytes_after_rerun": rss_after_rerun,
        }),
    );
    Ok(())
}

struct Counts {
    aws: usize,
    aws_writes: usize,
    aws_by_action: BTreeMap<String, usize>,
    tfc: usize,
    tfc_writes: usize,
    tfc_throttled: usize,
    tfc_list_pages: usize,
    tfc_peak_1s: usize,
    /// When the first and the last Terraform Cloud request arrived.
    tfc_span: Option<(Instant, Instant)>,
}

impl Counts {
    fn take(proxy: &FaultProxy, tfc: &TfcFake) -> Counts {
        let calls = proxy.calls();
        let mut aws_by_action = BTreeMap::new();
        for c in &calls {
            *aws_by_action.entry(c.action.clone()).or_insert(0) += 1;
        }
        let requests = tfc.requests();
        Counts {
            aws: calls.len(),
            aws_writes: proxy.write_count(),
            aws_by_action,
            tfc: requests.len(),
            tfc_writes: tfc.write_count(),
            tfc_throttled: requests.iter().filter(|r| r.status == 429).count(),
            tfc_list_pages: requests
                .iter()
                .filter(|r| r.method == "GET" && r.path.ends_with("/varsets"))
                .count(),
            tfc_peak_1s: tfc.max_requests_in_any_window(Duration::from_secs(1)),
            tfc_span: requests
                .iter()
                .map(|r| r.at)
                .min()
                .zip(requests.iter().map(|r| r.at).max()),
        }
    }

    fn json(&self, wall: Duration) -> Value {
        json!({
            "wall_ms": round(ms(wall), 1),
            "aws_calls": self.aws,
            "aws_writes": self.aws_writes,
            "aws_calls_by_action": self.aws_by_action,
            "tfc_calls": self.tfc,
            "tfc_writes": self.tfc_writes,
            "tfc_throttled": self.tfc_throttled,
            "tfc_varset_list_pages": self.tfc_list_pages,
        })
    }
}

async fn sweep(ctx: &Ctx, n: usize, res: &mut Results) -> Result<Value, String> {
    step(&format!(
        "sweep over {n} accounts: creating them in a private moto"
    ));
    let (moto, _) = org::private_organization(n, "bench").await?;
    let proxy = FaultProxy::start(&moto.url()).await;
    let tfc = TfcFake::start(ctx.fake.clone()).await;
    let vars = org::lambda_env(ctx, &proxy, &tfc, None);
    let mut lambda = Lambda::spawn(ctx, &vars, &format!("sweep-{n}"), SWEEP_DEADLINE).await?;
    lambda.ready().await?;

    let mut runs = Vec::new();
    for (label, expected) in [("fresh", "onboarded"), ("rerun", "unchanged")] {
        step(&format!("sweep over {n} accounts: {label}"));
        proxy.clear_calls();
        tfc.clear_requests();
        let cpu_before = lambda.cpu_time()?;
        let started = Instant::now();
        let (summary, wall) = lambda
            .invoke(json!({"action": "reconcile"}), SWEEP_DEADLINE)
            .await?;
        let rss = lambda.peak_rss()?;
        let cpu = lambda.cpu_time()?.saturating_sub(cpu_before);
        let counts = Counts::take(&proxy, &tfc);
        let response_bytes = summary.to_string().len();
        let outcomes = summary.get("counts").cloned().unwrap_or(Value::Null);
        let done = outcomes.get(expected).and_then(Value::as_u64).unwrap_or(0) as usize;
        let failures = summary
            .get("failures")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if done != n || failures > 0 {
            return Err(format!(
                "{label}: expected {n} {expected}, got {outcomes} ({failures} failures): {}",
                first_failure(&summary)
            ));
        }
        let secs = wall.as_secs_f64();
        let lower_bound = counts.tfc as f64 / f64::from(ctx.rate_limit);
        let ratio = secs / lower_bound;
        eprintln!(
            "  {label}: {secs:.1} s, {:.1} accounts/s, {} Terraform Cloud calls (peak {}/s, {} throttled), {:.2}x the rate-limit bound, peak RSS {}",
            n as f64 / secs,
            counts.tfc,
            counts.tfc_peak_1s,
            counts.tfc_throttled,
            ratio,
            mib(rss)
        );
        runs.push(json!({
            "run": label,
            "wall_s": round(secs, 3),
            "accounts_per_s": round(n as f64 / secs, 2),
            "lambda_cpu_s": round(cpu.as_secs_f64(), 3),
            "lambda_cpu_ms_per_account": round(ms(cpu) / n as f64, 3),
            "aws_calls": counts.aws,
            "aws_writes": counts.aws_writes,
            "aws_calls_per_account": round(counts.aws as f64 / n as f64, 3),
            "aws_calls_by_action": counts.aws_by_action,
            "tfc_calls": counts.tfc,
            "tfc_writes": counts.tfc_writes,
            "tfc_calls_per_account": round(counts.tfc as f64 / n as f64, 3),
            "tfc_throttled": counts.tfc_throttled,
            "tfc_peak_requests_in_1s": counts.tfc_peak_1s,
            "rate_limit_lower_bound_s": round(lower_bound, 3),
            // Where the time above the bound goes: before the first request (listings, the
            // first accounts' AWS steps), between first and last, and after the last.
            "tfc_first_request_after_s": counts.tfc_span.map(|(first, _)| round(first.duration_since(started).as_secs_f64(), 3)),
            "tfc_request_span_s": counts.tfc_span.map(|(first, last)| round(last.duration_since(first).as_secs_f64(), 3)),
            "after_last_tfc_request_s": counts.tfc_span.map(|(_, last)| round((started + wall).saturating_duration_since(last).as_secs_f64(), 3)),
            "ratio_to_lower_bound": round(ratio, 3),
            "peak_rss_bytes": rss,
            "response_bytes": response_bytes,
            "outcomes": outcomes,
        }));

        let what = format!("sweep {n} {label}");
        res.row(
            format!("{what}: throughput"),
            format!(
                "{:.1} accounts/s ({secs:.1} s, Lambda CPU {:.1} ms/account)",
                n as f64 / secs,
                ms(cpu) / n as f64
            ),
            "-",
            Verdict::Info,
            "reconcile event pushed -> summary posted",
        );
        org::peak_check(ctx, res, &what, &counts);
        // Fixed costs (listings, process warm-up) dominate a handful of accounts.
        let ratio_applies = counts.tfc >= 5 * ctx.rate_limit as usize;
        res.row(
            format!("{what}: time / rate-limit bound"),
            format!(
                "{ratio:.2}x ({secs:.1} s vs {} calls / {} per s = {lower_bound:.1} s)",
                counts.tfc, ctx.rate_limit
            ),
            "<= 1.25x",
            if !ratio_applies {
                Verdict::Info
            } else if ratio <= 1.25 {
                Verdict::Met
            } else {
                Verdict::Missed
            },
            "measured sweep time / (Terraform Cloud calls / rate limit)",
        );
        if label == "rerun" {
            res.check(
                format!("{what}: writes"),
                format!(
                    "{} AWS, {} Terraform Cloud",
                    counts.aws_writes, counts.tfc_writes
                ),
                "0",
                counts.aws_writes + counts.tfc_writes == 0,
                "fault proxy + fake log",
            );
        }
        res.check(
            format!("{what}: response size"),
            format!("{:.2} MiB", response_bytes as f64 / MIB),
            "<= 6 MiB (Lambda response limit)",
            response_bytes <= LAMBDA_RESPONSE_LIMIT,
            "bytes of the summary the function returned",
        );
    }
    let rss = lambda.peak_rss()?;
    drop(lambda);
    let (rss_target, rss_verdict) = if n >= 1000 {
        (
            "<= 64 MiB".to_owned(),
            if rss as f64 <= 64.0 * MIB {
                Verdict::Met
            } else {
                Verdict::Missed
            },
        )
    } else {
        ("(64 MiB target is for 1000)".to_owned(), Verdict::Info)
    };
    res.row(
        format!("peak RSS, sweep over {n}"),
        mib(rss),
        rss_target,
        rss_verdict,
        "VmHWM of the Lambda process after both sweeps",
    );
    Ok(json!({"accounts": n, "concurrency": ctx.concurrency, "peak_rss_bytes": rss, "runs": runs}))
}

/// Per-account cost at the largest size against the smallest: flat means linear.
fn linearity(sweeps: &[Value], res: &mut Results) {
    let (Some(small), Some(large)) = (sweeps.first(), sweeps.last()) else {
        return;
    };
    let n = |s: &Value| s["accounts"].as_f64().unwrap_or(1.0);
    if n(small) >= n(large) {
        return;
    }
    let fresh = |s: &Value| s["runs"][0].clone();
    let per = |s: &Value, key: &str| fresh(s)[key].as_f64().unwrap_or(0.0) / n(s);
    let growth = |key: &str| per(large, key) / per(small, key).max(f64::MIN_POSITIVE);
    let (aws, tfc, time) = (growth("aws_calls"), growth("tfc_calls"), growth("wall_s"));
    let rss_per_account = (large["peak_rss_bytes"].as_f64().unwrap_or(0.0)
        - small["peak_rss_bytes"].as_f64().unwrap_or(0.0))
        / (n(large) - n(small));
    let label = format!("{} vs {}", n(large), n(small));
    // Fixed costs (listings) amortise, so only growth above the smaller size's rate is bad.
    res.check(
        format!("linear cost, calls per account ({label})"),
        format!("AWS x{aws:.3}, Terraform Cloud x{tfc:.3}"),
        "<= x1.05",
        aws <= 1.05 && tfc <= 1.05,
        "fresh sweeps: calls / accounts at the larger size over the smaller",
    );
    res.check(
        format!("linear cost, time per account ({label})"),
        format!("x{time:.3}"),
        "<= x1.10",
        time <= 1.10,
        "fresh sweeps: seconds / accounts at the larger size over the smaller",
    );
    res.row(
        format!("memory per extra account ({label})"),
        format!("{:.1} KiB", rss_per_account / 1024.0),
        "-",
        Verdict::Info,
        "difference of the sweeps' peak RSS / difference of accounts",
    );
    res.json.insert(
        "linearity".into(),
        json!({"sizes": [n(small), n(large)], "aws_calls_per_account_growth": round(aws, 4), "tfc_calls_per_account_growth": round(tfc, 4),
               "time_per_account_growth": round(time, 4), "rss_bytes_per_extra_account": round(rss_per_account, 0)}),
    );
}

fn artifact(args: &Args, res: &mut Results) {
    let size = args
        .zip
        .as_ref()
        .map(|p| std::fs::metadata(p).map(|m| m.len()));
    let note = args.zip_note.clone().unwrap_or_default();
    match size {
        Some(Ok(bytes)) => {
            let figure = format!(
                "{} ({bytes} bytes, {}){}",
                mib(bytes),
                args.zip_arch,
                if note.is_empty() {
                    String::new()
                } else {
                    format!(" - {note}")
                }
            );
            res.check(
                "deployment zip",
                figure,
                "<= 4 MiB, arm64",
                bytes as f64 <= 4.0 * MIB && args.zip_arch == "arm64",
                "size of cargo lambda build --release --output-format zip",
            );
            res.json.insert(
                "artifact".into(),
                json!({"zip_bytes": bytes, "arch": args.zip_arch, "note": note}),
            );
        }
        Some(Err(e)) => res.errors.push(format!(
            "zip {}: {e}",
            args.zip
                .as_deref()
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default()
        )),
        None => {
            res.row(
                "deployment zip",
                format!("not built {note}"),
                "<= 4 MiB, arm64",
                Verdict::Missed,
                "pass --zip",
            );
            res.json
                .insert("artifact".into(), json!({"zip_bytes": null, "note": note}));
        }
    }
}

fn expect_outcome(response: &Value, expected: &str) -> Result<(), String> {
    match response.get("outcome").and_then(Value::as_str) {
        Some(o) if o == expected => Ok(()),
        _ => Err(format!("expected outcome {expected}, got {response}")),
    }
}

fn first_failure(summary: &Value) -> String {
    summary["failures"]
        .get(0)
        .map(Value::to_string)
        .unwrap_or_default()
}

struct Stats {
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
}

fn stats(samples: &[f64]) -> Stats {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    let median = if s.len().is_multiple_of(2) {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    } else {
        s[s.len() / 2]
    };
    Stats {
        median,
        p90: at(0.9),
        min: s[0],
        max: s[s.len() - 1],
    }
}

fn parse_range_ms(s: &str) -> Option<(Duration, Duration)> {
    let (low, high) = s.split_once('-').unwrap_or((s, s));
    let (low, high): (u64, u64) = (low.trim().parse().ok()?, high.trim().parse().ok()?);
    (low <= high).then(|| (Duration::from_millis(low), Duration::from_millis(high)))
}

fn machine() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_kib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    json!({
        "date": utc_now(),
        "nproc": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu": cpu,
        "memory_mib": memory_kib.map(|k| k / 1024),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "commit": commit(),
    })
}

/// The measured source: HEAD, marked when the work tree differs from it.
fn commit() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{head}+changes")
    } else {
        head
    })
}

/// RFC 3339 UTC, from days since the epoch (Howard Hinnant's civil-from-days).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn print_table(res: &Results) {
    let m = &res.json["machine"];
    println!(
        "\ntfc-onboarder benchmark, {} ({} mode, commit {}): {} x {}, {} MiB, Linux {}",
        m["date"].as_str().unwrap_or("?"),
        res.json["settings"]["mode"].as_str().unwrap_or("?"),
        m["commit"].as_str().unwrap_or("?"),
        m["nproc"],
        m["cpu"].as_str().unwrap_or("?"),
        m["memory_mib"],
        m["kernel"].as_str().unwrap_or("?"),
    );
    let s = &res.json["settings"];
    println!(
        "Terraform Cloud fake: {}-{} ms per call, {} requests/s admitted; sweep concurrency {}\n",
        s["tfc_latency_ms"][0],
        s["tfc_latency_ms"][1],
        s["tfc_rate_limit_per_sec"],
        s["concurrency"]
    );
    let width = |f: fn(&Row) -> &str, title: &str| {
        res.rows
            .iter()
            .map(|r| f(r).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (wm, wf, wt) = (
        width(|r| &r.measure, "measure"),
        width(|r| &r.figure, "figure"),
        width(|r| &r.target, "target"),
    );
    println!(
        "| {:<wm$} | {:<wf$} | {:<wt$} | verdict |",
        "measure", "figure", "target"
    );
    println!(
        "|{}|{}|{}|---------|",
        "-".repeat(wm + 2),
        "-".repeat(wf + 2),
        "-".repeat(wt + 2)
    );
    for r in &res.rows {
        let verdict = match r.verdict {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::Info => "-",
        };
        println!(
            "| {:<wm$} | {:<wf$} | {:<wt$} | {verdict:<7} |",
            r.measure, r.figure, r.target
        );
    }
    for e in &res.errors {
        println!("ERROR: {e}");
    }
}

fn row_json(r: &Row) -> Value {
    let verdict = match r.verdict {
        Verdict::Met => "met",
        Verdict::Missed => "missed",
        Verdict::Info => "info",
    };
    json!({"measure": r.measure, "figure": r.figure, "target": r.target, "verdict": verdict, "source": r.source})
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "log {} ends: {}",
        log.display(),
        lines[lines.len().saturating_sub(5)..].join(" | ")
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(stats(&[4.0, 1.0, 3.0, 2.0]).median, 2.5);
        let s = stats(&[5.0, 1.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
    }

    #[test]
    fn latency_ranges_are_low_dash_high() {
        let ms = Duration::from_millis;
        assert_eq!(parse_range_ms("20-50"), Some((ms(20), ms(50))));
        assert_eq!(parse_range_ms("0"), Some((ms(0), ms(0))));
        assert_eq!(parse_range_ms("50-20"), None);
        assert_eq!(parse_range_ms("fast"), None);
    }

    #[test]
    fn the_date_is_rfc3339_utc() {
        let d = utc_now();
        assert_eq!(d.len(), 20, "{d}");
        assert!(
            d.starts_with("20") && d.ends_with('Z') && &d[10..11] == "T",
            "{d}"
        );
    }

    fn sweep_figures(accounts: u64, aws: u64, tfc: u64, wall_s: f64) -> Value {
        json!({"accounts": accounts, "peak_rss_bytes": 0,
               "runs": [{"aws_calls": aws, "tfc_calls": tfc, "wall_s": wall_s}]})
    }

    fn verdicts(sweeps: &[Value]) -> Vec<Verdict> {
        let mut res = Results::default();
        linearity(sweeps, &mut res);
        res.rows
            .iter()
            .filter(|r| r.verdict != Verdict::Info)
            .map(|r| r.verdict)
            .collect()
    }

    #[test]
    fn fixed_costs_amortise_but_growth_per_account_is_a_miss() {
        let small = sweep_figures(200, 1_412, 201, 8.0);
        assert_eq!(
            verdicts(&[small.clone(), sweep_figures(1000, 7_052, 1_001, 37.0)]),
            [Verdict::Met, Verdict::Met]
        );
        assert_eq!(
            verdicts(&[small, sweep_figures(1000, 9_000, 1_001, 60.0)]),
            [Verdict::Missed, Verdict::Missed]
        );
    }
}
