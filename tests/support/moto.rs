//! A real moto_server for tests: one shared per test process, or a private one on demand.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_organizations::error::ProvideErrorMetadata;

/// Points every test at an already running server (e.g. one kept alive across `cargo test` runs).
const URL_ENV: &str = "TFC_ONBOARDER_MOTO_URL";
/// Path of the moto_server executable when it is not on PATH.
const BINARY_ENV: &str = "MOTO_SERVER";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const MEMBER_ROLE: &str = "OrganizationAccountAccessRole";
const CONTROL_TOWER_ROLE: &str = "AWSControlTowerExecution";
const DEFAULT_REGION: &str = "us-east-1";
/// Starts moto_server with a chosen few AWS-managed policies.
const LAUNCHER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/moto_with_policies.py"
);

/// Which AWS-managed IAM policies a private server knows.
enum Policies<'a> {
    None,
    All,
    Only(&'a [&'a str]),
}

pub struct Moto {
    url: String,
    child: Option<Child>,
    /// moto checks "already in an organization" and creates it non-atomically, so concurrent
    /// tests must not race two CreateOrganization calls into the same server.
    org_lock: tokio::sync::Mutex<()>,
}

impl Moto {
    /// One server per test process, started on first use, with the AWS-managed IAM policies
    /// loaded. `TFC_ONBOARDER_MOTO_URL` selects an already running server instead.
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(|| match std::env::var(URL_ENV) {
            Ok(url) if !url.trim().is_empty() => {
                let url = url.trim().trim_end_matches('/').to_string();
                let authority = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                if !wait_ready(authority, None) {
                    panic!("{URL_ENV}={url} does not answer GET /moto-api/data.json");
                }
                Moto {
                    url,
                    child: None,
                    org_lock: Default::default(),
                }
            }
            _ => Moto::start(true),
        })
    }

    /// A private, empty server, killed when the value is dropped. Without managed policies
    /// CreateAccount is much faster, but `arn:aws:iam::aws:policy/*` do not exist.
    pub fn start(managed_policies: bool) -> Moto {
        Moto::launch(if managed_policies {
            Policies::All
        } else {
            Policies::None
        })
    }

    /// A private server that knows only the named AWS-managed policies (e.g.
    /// `AdministratorAccess`): attaching them works as in AWS, and CreateAccount stays as fast
    /// as without any.
    pub fn start_with_policies(names: &[&str]) -> Moto {
        Moto::launch(Policies::Only(names))
    }

    fn launch(policies: Policies<'_>) -> Moto {
        let program = std::env::var(BINARY_ENV).unwrap_or_else(|_| "moto_server".to_string());
        let (command, args) = match policies {
            Policies::Only(names) => {
                let mut interpreter = interpreter_of(&program);
                interpreter.push(LAUNCHER.to_owned());
                interpreter.push(names.join(","));
                (interpreter.remove(0), interpreter)
            }
            _ => (program.clone(), Vec::new()),
        };
        let load_all = matches!(policies, Policies::All);
        // A port picked this way can be taken before moto binds it; moto then exits at once.
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&command);
            cmd.args(&args)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env(
                    "MOTO_IAM_LOAD_MANAGED_POLICIES",
                    if load_all { "true" } else { "false" },
                )
                // Account switching through AssumeRole only works without a fixed account.
                .env_remove("MOTO_ACCOUNT_ID")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            die_with_parent(&mut cmd);
            let mut child = match spawn_from_long_lived_thread(cmd) {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot start {program} ({e}): install moto with `pip install 'moto[server]'` \
                     and put moto_server on PATH or set {BINARY_ENV} to its path"
                ),
            };
            let authority = format!("127.0.0.1:{port}");
            if wait_ready(&authority, Some(&mut child)) {
                return Moto {
                    url: format!("http://{authority}"),
                    child: Some(child),
                    org_lock: Default::default(),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "{program} did not become ready on 127.0.0.1 within {READY_TIMEOUT:?}; check that \
             `{program} -H 127.0.0.1 -p 5000` works (install with `pip install 'moto[server]'`)"
        );
    }

    /// Seeds moto's random numbers: the same calls in the same order then get the same ids
    /// (account ids included), so a run can be replayed.
    pub async fn seed(&self, seed: u64) {
        let url = format!("{}/moto-api/seed?a={seed}", self.url);
        let answer = reqwest::Client::new().post(&url).send().await;
        assert!(
            answer.is_ok_and(|a| a.status().is_success()),
            "POST {url} failed"
        );
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Management-account (moto default account) configuration aimed at this server.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_at(&self.url)
    }

    /// The same in another region; moto keeps a separate world per partition (aws, aws-cn,
    /// aws-us-gov), chosen by the region a request is signed for.
    pub fn sdk_config_in(&self, region: &str) -> SdkConfig {
        sdk_config_in(&self.url, region)
    }

    /// Creates the organization unless it exists; returns the management account id.
    pub async fn ensure_organization(&self) -> String {
        self.ensure_organization_in(DEFAULT_REGION).await
    }

    /// [`Moto::ensure_organization`] in the partition of `region`.
    pub async fn ensure_organization_in(&self, region: &str) -> String {
        let _guard = self.org_lock.lock().await;
        let org = aws_sdk_organizations::Client::new(&self.sdk_config_in(region));
        if let Ok(out) = org.describe_organization().send().await {
            return master_account_id(out.organization());
        }
        match org
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
        {
            Ok(out) => master_account_id(out.organization()),
            // Another test process sharing the server got there first.
            Err(e) if e.code() == Some("AlreadyInOrganizationException") => {
                let out = org
                    .describe_organization()
                    .send()
                    .await
                    .expect("DescribeOrganization");
                master_account_id(out.organization())
            }
            Err(e) => panic!("CreateOrganization: {e:?}"),
        }
    }

    /// Creates a member account (moto also creates OrganizationAccountAccessRole in it).
    pub async fn create_account(&self, name: &str, tags: &[(&str, &str)]) -> String {
        self.create_account_in(DEFAULT_REGION, name, tags).await
    }

    /// [`Moto::create_account`] in the partition of `region`. Outside `aws`, moto does not
    /// create OrganizationAccountAccessRole where that partition's IAM sees it.
    pub async fn create_account_in(
        &self,
        region: &str,
        name: &str,
        tags: &[(&str, &str)],
    ) -> String {
        self.ensure_organization_in(region).await;
        let org = aws_sdk_organizations::Client::new(&self.sdk_config_in(region));
        let mut req = org
            .create_account()
            .account_name(name)
            .email(format!("{name}-{}@example.com", fastrand::u64(..)));
        for (key, value) in tags {
            req = req.tags(
                aws_sdk_organizations::types::Tag::builder()
                    .key(*key)
                    .value(*value)
                    .build()
                    .expect("tag key and value are set"),
            );
        }
        let out = req.send().await.expect("CreateAccount");
        out.create_account_status()
            .and_then(|s| s.account_id())
            .expect("CreateAccount returned no account id")
            .to_string()
    }

    /// Credentials of OrganizationAccountAccessRole in `account_id`; moto maps the temporary
    /// key to that account, so calls made with it land there.
    pub async fn member_sdk_config(&self, account_id: &str) -> SdkConfig {
        self.member_sdk_config_in(DEFAULT_REGION, account_id).await
    }

    /// [`Moto::member_sdk_config`] in the partition of `region`. Straight to moto, whose
    /// AssumeRole works whether or not the role exists.
    pub async fn member_sdk_config_in(&self, region: &str, account_id: &str) -> SdkConfig {
        let base = self.sdk_config_in(region);
        let partition = partition_of(region);
        let sts = aws_sdk_sts::Client::new(&base);
        let out = sts
            .assume_role()
            .role_arn(format!(
                "arn:{partition}:iam::{account_id}:role/{MEMBER_ROLE}"
            ))
            .role_session_name("tfc-onboarder-test")
            .send()
            .await
            .expect("AssumeRole");
        let c = out
            .credentials()
            .expect("AssumeRole returned no credentials");
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            std::time::SystemTime::try_from(*c.expiration()).ok(),
            "moto-assumed-role",
        );
        base.to_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build()
    }

    /// Makes `account` look like one Control Tower or Account Factory for Terraform created:
    /// reachable only through AWSControlTowerExecution, trusting the management account.
    pub async fn make_control_tower_account(&self, account_id: &str) {
        let management = self.ensure_organization().await;
        let iam = aws_sdk_iam::Client::new(&self.member_sdk_config(account_id).await);
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{management}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        );
        iam.create_role()
            .role_name(CONTROL_TOWER_ROLE)
            .assume_role_policy_document(trust)
            .send()
            .await
            .expect("CreateRole AWSControlTowerExecution");
        self.delete_access_role(account_id).await;
    }

    /// Deletes OrganizationAccountAccessRole from `account` (an invited account never had it).
    pub async fn delete_access_role(&self, account_id: &str) {
        let iam = aws_sdk_iam::Client::new(&self.member_sdk_config(account_id).await);
        let attached = iam
            .list_attached_role_policies()
            .role_name(MEMBER_ROLE)
            .send()
            .await
            .expect("ListAttachedRolePolicies");
        for policy in attached.attached_policies() {
            iam.detach_role_policy()
                .role_name(MEMBER_ROLE)
                .set_policy_arn(policy.policy_arn().map(str::to_owned))
                .send()
                .await
                .expect("DetachRolePolicy");
        }
        iam.delete_role()
            .role_name(MEMBER_ROLE)
            .send()
            .await
            .expect("DeleteRole OrganizationAccountAccessRole");
    }

    /// Creates an organizational unit directly under the root; returns its id.
    pub async fn create_ou(&self, name: &str) -> String {
        self.ensure_organization().await;
        let org = aws_sdk_organizations::Client::new(&self.sdk_config());
        let roots = org.list_roots().send().await.expect("ListRoots");
        let root_id = roots
            .roots()
            .first()
            .and_then(|r| r.id())
            .expect("organization has no root");
        let out = org
            .create_organizational_unit()
            .parent_id(root_id)
            .name(name)
            .send()
            .await
            .expect("CreateOrganizationalUnit");
        out.organizational_unit()
            .and_then(|ou| ou.id())
            .expect("CreateOrganizationalUnit returned no id")
            .to_string()
    }

    pub async fn move_account(&self, account_id: &str, ou_id: &str) {
        let org = aws_sdk_organizations::Client::new(&self.sdk_config());
        let parents = org
            .list_parents()
            .child_id(account_id)
            .send()
            .await
            .expect("ListParents");
        let source = parents
            .parents()
            .first()
            .and_then(|p| p.id())
            .expect("account has no parent");
        org.move_account()
            .account_id(account_id)
            .source_parent_id(source)
            .destination_parent_id(ou_id)
            .send()
            .await
            .expect("MoveAccount");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Test configuration for any endpoint speaking the AWS protocols (moto, or a proxy in front of
/// it). Retries are off so that every injected fault reaches the code under test exactly once.
pub fn sdk_config_at(endpoint_url: &str) -> SdkConfig {
    sdk_config_in(endpoint_url, DEFAULT_REGION)
}

/// [`sdk_config_at`] for a region of another partition (e.g. `us-gov-west-1`).
pub fn sdk_config_in(endpoint_url: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "moto-test",
        )))
        .endpoint_url(endpoint_url)
        .retry_config(RetryConfig::disabled())
        .build()
}

/// The ARN partition moto serves a region from.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        "aws"
    }
}

fn master_account_id(org: Option<&aws_sdk_organizations::types::Organization>) -> String {
    org.and_then(|o| o.master_account_id())
        .expect("organization has no management account id")
        .to_string()
}

/// The interpreter (and its arguments) of the moto_server script, from its `#!` line: the
/// launcher needs the Python that has moto installed.
fn interpreter_of(program: &str) -> Vec<String> {
    let path = if program.contains('/') {
        std::path::PathBuf::from(program)
    } else {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| {
                panic!("{program} is not on PATH: install moto with `pip install 'moto[server]'` or set {BINARY_ENV}")
            })
    };
    let text =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let first = String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let interpreter: Vec<String> = first
        .strip_prefix("#!")
        .map(|rest| rest.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    assert!(
        !interpreter.is_empty(),
        "{} is not a Python script with a #! line; cannot find the Python that has moto",
        path.display()
    );
    interpreter
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The child gets SIGKILL when its parent goes away, because a `static` server is never
/// dropped and would otherwise outlive the test process.
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died before prctl took effect: no signal would ever come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// PR_SET_PDEATHSIG fires when the forking *thread* exits, and test threads (and tokio's
/// blocking threads) end long before the process does; so every spawn happens on one thread
/// that lives as long as the process.
fn spawn_from_long_lived_thread(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("moto-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn moto-spawner thread");
        tx
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .expect("moto-spawner thread is gone");
    reply_rx.recv().expect("moto-spawner thread is gone")
}

/// Blocking on purpose: it must work from any (or no) async runtime.
fn wait_ready(authority: &str, mut child: Option<&mut Child>) -> bool {
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
        }
        if answers_data_json(authority) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn answers_data_json(authority: &str) -> bool {
    let Some(addr) = authority.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "GET /moto-api/data.json HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).is_ok()
        && status_line.starts_with(b"HTTP/1.")
        && status_line.ends_with(b" 200")
}
