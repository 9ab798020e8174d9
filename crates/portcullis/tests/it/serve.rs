//! The `portcullis serve` process: start-up, `--dev`, logs without secrets, graceful
//! shutdown, configuration errors.

use crate::support::{SVC_SECRET, basic_header, binary};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_serve(dir: &Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir)
        .arg("serve")
        .args(extra)
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("PORTCULLIS_ISSUER")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_MASTER_KEY")
        .env_remove("PORTCULLIS_CONFIG")
        .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

async fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("http://127.0.0.1:{port}/health/ready");
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve exited early: {status}");
        }
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve was not ready within 30 s");
}

fn sigterm_and_wait(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const CONFIG: &str = r#"
[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]

[[users]]
username = "alice"
password = "alice-password-not-in-logs"
email = "alice@example.com"
"#;

#[tokio::test]
async fn logs_carry_audit_events_but_no_secret_and_sigterm_stops_cleanly() {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(dir.path().join("portcullis.toml"), CONFIG).unwrap();
    let port = free_port();
    let mut child = spawn_serve(
        dir.path(),
        port,
        &["--config", "portcullis.toml"],
        &[("RUST_LOG", "debug"), ("PORTCULLIS_LOG_FORMAT", "json")],
    );
    wait_ready(port, &mut child).await;
    let http = reqwest::Client::new();
    let token_url = format!("http://127.0.0.1:{port}/token");
    let ok = http
        .post(&token_url)
        .header("authorization", basic_header("svc", SVC_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", "session=cookie-value-not-in-logs")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let token = ok.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=svc&client_secret=wrong-secret-not-in-logs-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let status = sigterm_and_wait(&mut child);
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let logs = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap()
        + &std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    // Structured: every line of standard output is a JSON object.
    let stdout = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let audit = |name: &str| {
        events
            .iter()
            .find(|e| e["target"] == "audit" && e["fields"]["event"] == name)
            .unwrap_or_else(|| panic!("no audit event {name}:\n{stdout}"))
            .clone()
    };
    let issued = audit("token_issued");
    assert_eq!(issued["fields"]["client_id"], "svc");
    assert_eq!(issued["fields"]["subject"], "svc");
    assert_eq!(issued["fields"]["outcome"], "success");
    assert_eq!(issued["fields"]["grant_type"], "client_credentials");
    assert_eq!(
        issued["fields"]["request_id"].as_str().map(str::len),
        Some(36),
        "a request id"
    );
    let failed = audit("client_authentication_failed");
    assert_eq!(failed["fields"]["client_id"], "svc");
    assert_eq!(failed["fields"]["outcome"], "failure");
    assert!(logs.contains("portcullis is ready") && logs.contains("portcullis stopped"));
    let basic = basic_header("svc", SVC_SECRET);
    for secret in [
        SVC_SECRET,
        basic.trim_start_matches("Basic "),
        token.as_str(),
        token.split('.').nth(2).unwrap(),
        "wrong-secret-not-in-logs",
        "cookie-value-not-in-logs",
        "alice-password-not-in-logs",
    ] {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the logs: {secret}"
        );
    }
}

#[tokio::test]
async fn dev_mode_prints_working_credentials_and_is_idempotent() {
    let dir = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let mut child = spawn_serve(dir.path(), port, &["--dev"], &[]);
    wait_ready(port, &mut child).await;
    let banner = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    let secret = banner
        .split("client_secret=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no secret in banner:\n{banner}"))
        .to_owned();
    assert!(banner.contains("\n  curl -s -u 'demo-service:"), "{banner}");
    assert!(
        banner.contains("\n  user            username=demo  password="),
        "{banner}"
    );
    let data = dir.path().join("portcullis-data");
    for file in [
        "portcullis.db",
        "portcullis.db-wal",
        "portcullis.db-shm",
        "master.key",
        "dev-credentials.json",
    ] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(data.join(file)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{file} must be owner-only");
    }
    let dir_mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&data).unwrap().permissions());
    assert_eq!(dir_mode & 0o777, 0o700, "the data directory is owner-only");
    assert!(
        dir.path().join("portcullis-data/portcullis.db").exists(),
        "default SQLite path"
    );
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/token"))
        .header("authorization", basic_header("demo-service", &secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=read:orders")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(sigterm_and_wait(&mut child).success());

    let mut again = spawn_serve(dir.path(), port, &["--dev"], &[]);
    wait_ready(port, &mut again).await;
    let banner2 = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    assert!(
        banner2.contains(&format!("client_secret={secret}")),
        "restart prints the same credentials"
    );
    assert!(sigterm_and_wait(&mut again).success());
}

/// Runs `portcullis ARGS` in an empty directory with `env`, expects a refusal at
/// start-up (exit status 2, nothing created) and returns its standard error.
fn refused_start(args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> String {
    let dir = tempfile::TempDir::new().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir.path())
        .args(args)
        .env_remove("PORTCULLIS_ISSUER")
        .env_remove("PORTCULLIS_LISTEN")
        .env_remove("PORTCULLIS_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        !dir.path().join("portcullis-data").exists(),
        "nothing created"
    );
    stderr
}

#[test]
fn dev_mode_refuses_a_non_loopback_issuer() {
    let stderr = refused_start(
        &["serve", "--dev"],
        &[("PORTCULLIS_ISSUER", "https://id.example.com")],
        &[],
    );
    assert!(
        stderr.contains("--dev") && stderr.contains("issuer https://id.example.com"),
        "{stderr}"
    );
}

#[test]
fn dev_mode_refuses_a_non_loopback_listen_address() {
    let env = [
        ("PORTCULLIS_ISSUER", "http://127.0.0.1:8080"),
        ("PORTCULLIS_LISTEN", "0.0.0.0:8080"),
    ];
    let stderr = refused_start(&["serve", "--dev"], &env, &[]);
    assert!(stderr.contains("listen 0.0.0.0:8080"), "{stderr}");
}

#[test]
fn rejects_a_config_error_naming_the_file_and_the_key() {
    let bad = "issuer = \"http://127.0.0.1:1\"\n[tokens]\naccess_token_lifetime = 5\n";
    let stderr = refused_start(
        &["--config", "bad.toml", "serve"],
        &[],
        &[("bad.toml", bad)],
    );
    assert!(
        stderr.contains("bad.toml") && stderr.contains("access_token_lifetime"),
        "{stderr}"
    );
}

#[test]
fn rejects_a_plain_http_issuer_off_loopback() {
    let stderr = refused_start(
        &["serve"],
        &[("PORTCULLIS_ISSUER", "http://id.example.com")],
        &[],
    );
    assert!(
        stderr.contains("PORTCULLIS_ISSUER") && stderr.contains("https"),
        "{stderr}"
    );
}
