//! Cold start only: logging, configuration, SDK clients, then either the Lambda runtime
//! (when `AWS_LAMBDA_RUNTIME_API` is set) or the operator CLI.
// The Lambda service future nests the AWS SDK's deep async state machines.
#![recursion_limit = "256"]

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;
use tfc_onboarder::event::{OnboardRequest, Request, Trigger};
use tfc_onboarder::handler::Response;
use tfc_onboarder::mapping::Overrides;
use tfc_onboarder::metrics::Invocation;
use tfc_onboarder::{handler, Clients, Config, Onboarder};

/// Makes AWS accounts usable from Terraform Cloud with OIDC dynamic credentials.
///
/// Configuration comes from the environment (TFE_ORGANIZATION, TFE_TOKEN or
/// TFE_TOKEN_SECRET_ID, ONBOARD_*; see the README). AWS credentials and endpoints come from
/// the standard AWS chain and must be those of the Organizations management account, or, with
/// ONBOARD_MANAGEMENT_ROLE_ARN, of a principal that may assume that broker role and that the
/// organization's delegation policy lets read Organizations.
#[derive(Parser)]
#[command(name = "tfc-onboarder", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    /// Time budget in seconds for waiting on new accounts and retries.
    #[arg(long, default_value_t = 600, global = true)]
    budget_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Onboard one account (create or converge the provider, role and variable set).
    Onboard {
        /// The 12-digit AWS account id.
        #[arg(long)]
        account_id: String,
        /// Name used in the variable-set name template (default: from Organizations).
        #[arg(long)]
        account_name: Option<String>,
        /// Compute the changes by reading only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Terraform Cloud project allowed to assume the role (overrides tags and defaults).
        #[arg(long)]
        project: Option<String>,
        /// Terraform Cloud workspace allowed to assume the role.
        #[arg(long)]
        workspace: Option<String>,
        /// Exact name of the variable set to register the role in.
        #[arg(long)]
        variable_set: Option<String>,
    },
    /// Bring every active account of the organization to the desired state.
    Reconcile {
        /// Compute the changes by reading only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Resume a sweep from the marker a previous sweep returned.
        #[arg(long)]
        continuation: Option<String>,
    },
    /// Remove what this tool registered in Terraform Cloud for an account.
    Offboard {
        /// The 12-digit AWS account id.
        #[arg(long)]
        account_id: String,
        /// Compute the changes by reading only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check, reading only, that everything the function needs is in place; exits 1 on any
    /// failed check.
    Doctor {
        /// How many member accounts (the newest) to try every access role in.
        #[arg(long, default_value_t = tfc_onboarder::doctor::DEFAULT_SAMPLE,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=tfc_onboarder::doctor::MAX_SAMPLE as u64))]
        sample: usize,
        /// ARN of the deployed function (terraform output function_arn), to check the
        /// EventBridge rules that invoke it; without it that check is skipped, saying so.
        #[arg(long)]
        function_arn: Option<String>,
    },
    /// Process one event exactly as the Lambda would (a file, or - for standard input).
    Handle {
        /// Path of the JSON event (see events/).
        event: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn main() -> ExitCode {
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    init_tracing(lambda);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if lambda {
        runtime.block_on(run_lambda())
    } else {
        let cli = Cli::parse();
        runtime.block_on(run_cli(cli))
    }
}

fn init_tracing(lambda: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if lambda {
        builder
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .without_time()
            .init();
    } else {
        // Log lines go above the reconcile progress line, if one is drawn; colours only on a
        // terminal, so that CI logs and files stay plain.
        builder
            .with_writer(tfc_onboarder::progress::Stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .init();
    }
}

async fn build() -> Result<&'static Onboarder, String> {
    let cfg = Config::from_env().map_err(|e| e.to_string())?;
    for warning in cfg.warnings() {
        tracing::warn!(warning, "risky configuration");
    }
    let sdk = tfc_onboarder::sdk_config()
        .await
        .map_err(|e| e.to_string())?;
    let clients = Clients::new(sdk, &cfg).map_err(|e| e.to_string())?;
    // One instance for the life of the process, shared by every invocation.
    Ok(Box::leak(Box::new(Onboarder { cfg, clients })))
}

async fn run_lambda() -> ExitCode {
    let ob = match build().await {
        Ok(ob) => ob,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let service = lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| async move {
            let deadline = tfc_onboarder::deadline_from_epoch_ms(event.context.deadline);
            let metrics = Invocation::lambda(
                &event.context.env_config.function_name,
                &event.context.request_id,
            );
            let function = &event.context.invoked_function_arn;
            let result = metrics
                .scope(handler::handle_in_lambda(
                    ob,
                    &event.payload,
                    deadline,
                    function,
                ))
                .await;
            metrics.finish();
            result
        },
    );
    match lambda_runtime::run(service).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run_cli(cli: Cli) -> ExitCode {
    let request = match cli_request(cli.command) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let ob = match build().await {
        Ok(ob) => ob,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(cli.budget_secs);
    let progress = matches!(request, Request::Reconcile { .. })
        && tfc_onboarder::progress::wanted(std::io::stderr().is_terminal(), |name| {
            std::env::var(name).ok()
        });
    let work = handler::dispatch(ob, request, deadline);
    let result = if progress {
        tfc_onboarder::progress::follow(&Invocation::plain(), work).await
    } else {
        work.await
    };
    match result {
        Ok(response) => {
            print(&response, cli.output);
            let failed = match &response {
                Response::Summary(s) => !s.failures.is_empty(),
                Response::SweepStep(s) => s.failed > 0,
                Response::Batch(b) => !b.batch_item_failures.is_empty(),
                Response::Doctor(d) => !d.ok,
                Response::Report(_) | Response::Skipped { .. } => false,
            };
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cli_request(command: Command) -> Result<Request, String> {
    let account = |id: &str| tfc_onboarder::domain::AccountId::parse(id).map_err(|e| e.to_string());
    Ok(match command {
        Command::Onboard {
            account_id,
            account_name,
            dry_run,
            project,
            workspace,
            variable_set,
        } => Request::Onboard(OnboardRequest {
            account: account(&account_id)?,
            account_name,
            overrides: Overrides {
                project,
                workspace,
                variable_set,
                ..Overrides::default()
            },
            dry_run,
            trigger: Trigger::Manual,
        }),
        Command::Reconcile {
            dry_run,
            continuation,
        } => Request::Reconcile {
            dry_run,
            continuation,
            brief: false,
        },
        Command::Offboard {
            account_id,
            dry_run,
        } => Request::Offboard {
            account: account(&account_id)?,
            dry_run,
            cause: "manual".into(),
        },
        Command::Doctor {
            sample,
            function_arn,
        } => Request::Doctor(tfc_onboarder::doctor::DoctorRequest {
            sample,
            function_arn: match function_arn {
                Some(arn) => Some(tfc_onboarder::doctor::unqualified_function_arn(&arn).ok_or_else(
                    || format!("--function-arn `{arn}` is not a Lambda function ARN (arn:aws:lambda:<Region>:<account>:function:<name>; terraform output function_arn)"),
                )?),
                None => None,
            },
        }),
        Command::Handle { event } => {
            let mut bytes = Vec::new();
            let read = if event == "-" {
                std::io::stdin().read_to_end(&mut bytes).map(|_| ())
            } else {
                std::fs::File::open(&event)
                    .and_then(|mut f| f.read_to_end(&mut bytes))
                    .map(|_| ())
            };
            read.map_err(|e| format!("cannot read {event}: {e}"))?;
            tfc_onboarder::event::parse_bytes(&bytes).map_err(|e| e.to_string())?
        }
    })
}

fn print(response: &Response, output: Output) {
    match (output, response) {
        (Output::Table, Response::Report(r)) => {
            print!("{}", tfc_onboarder::report::table(std::slice::from_ref(r)))
        }
        (Output::Table, Response::Summary(s)) => {
            print!("{}", tfc_onboarder::report::table(&s.reports));
            println!(
                "counts: {}",
                serde_json::to_string(&s.counts).unwrap_or_default()
            );
            if let Some(c) = &s.continuation {
                println!("time budget ran out: resume with --continuation {c}");
            }
        }
        (Output::Table, Response::Doctor(d)) => print!("{}", tfc_onboarder::doctor::render(d)),
        (Output::Table, Response::Skipped { reason, .. }) => println!("skipped: {reason}"),
        // Machine-facing answers (state machine, event source mapping) print as they are.
        (Output::Table, r @ (Response::SweepStep(_) | Response::Batch(_))) => {
            println!("{}", serde_json::to_string(r).unwrap_or_default())
        }
        (Output::Json, r) => println!("{}", serde_json::to_string_pretty(r).unwrap_or_default()),
    }
}
