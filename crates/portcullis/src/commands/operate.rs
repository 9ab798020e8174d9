//! The operator's day-to-day commands: `user set-password|unlock`, `session
//! list|revoke`, `revoke`, and the human (`--output table`) or JSON rendering of the
//! list commands. Each calls one application function
//! (`portcullis_server::app::admin`) and prints what it returns.

use super::{Failure, print_json};
use crate::cli::{
    ClientCommand, ClientUpdate, Command, KeysCommand, OutputFormat, RevokeArgs, SessionCommand,
    UserCommand,
};
use portcullis_core::keys::{KeyStatus, StoredSigningKey};
use portcullis_core::{Store, UnixTime};
use portcullis_server::app::admin::clients::{ClientChanges, update_client as update};
use portcullis_server::app::admin::revocation::{self, Revocation, RevocationSubject};
use portcullis_server::app::admin::users::{self, SessionView};
use portcullis_server::app::keys::Rotation;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Whether [`run`] carries out `command` (the commands of this module).
pub fn handles(command: &Command) -> bool {
    matches!(
        command,
        Command::Session(_)
            | Command::Revoke(_)
            | Command::Keys(KeysCommand::List)
            | Command::Client(ClientCommand::Update(_))
            | Command::User(
                UserCommand::SetPassword { .. }
                    | UserCommand::Update { .. }
                    | UserCommand::Disable { .. }
                    | UserCommand::Enable { .. }
                    | UserCommand::Unlock { .. }
            )
    )
}

/// Runs a command [`handles`] names against `store` at `now`.
///
/// # Errors
/// A [`Failure`] with its exit status.
pub async fn run(
    store: &dyn Store,
    command: Command,
    output: OutputFormat,
    now: UnixTime,
) -> Result<(), Failure> {
    match command {
        Command::Session(s) => session(store, s, output, now).await,
        Command::Revoke(args) => revoke(store, args, output, now).await,
        Command::Keys(KeysCommand::List) => {
            let keys = store
                .signing_keys_list()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            print_keys(&keys, output, now)
        }
        Command::Client(ClientCommand::Update(args)) => update_client(store, *args, now).await,
        Command::User(UserCommand::SetPassword {
            username,
            password_stdin,
        }) => set_password(store, &username, password_stdin, output, now).await,
        Command::User(UserCommand::Update {
            username,
            email,
            name,
            claims,
        }) => update_user(store, &username, email, name, claims, now).await,
        Command::User(UserCommand::Disable { username }) => {
            set_disabled(store, &username, true, output, now).await
        }
        Command::User(UserCommand::Enable { username }) => {
            set_disabled(store, &username, false, output, now).await
        }
        Command::User(UserCommand::Unlock { username }) => unlock(store, &username).await,
        _ => Err(Failure::runtime("not an operator command")),
    }
}

/// The output format: as asked, else a table on a terminal and JSON when piped.
pub fn format(asked: Option<OutputFormat>) -> OutputFormat {
    asked.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            OutputFormat::Table
        } else {
            OutputFormat::Json
        }
    })
}

/// `portcullis session …`
pub async fn session(
    store: &dyn Store,
    command: SessionCommand,
    output: OutputFormat,
    now: UnixTime,
) -> Result<(), Failure> {
    match command {
        SessionCommand::List { user } => {
            let sessions = users::list_sessions(store, user.as_deref(), now).await?;
            print_sessions(&sessions, output, now)
        }
        SessionCommand::Revoke { id, user } => {
            let subject = match (id, user) {
                (_, Some(user)) => RevocationSubject::User(user),
                (Some(id), None) => RevocationSubject::Session(id),
                (None, None) => return Err(Failure::usage("give a session id or --user")),
            };
            let done = revocation::revoke(store, &subject, None, now, "cli").await?;
            print_revocation(&done, output)
        }
    }
}

/// `portcullis revoke …`
pub async fn revoke(
    store: &dyn Store,
    args: RevokeArgs,
    output: OutputFormat,
    now: UnixTime,
) -> Result<(), Failure> {
    let subject = match (args.user, args.client, args.session) {
        (Some(u), _, _) => RevocationSubject::User(u),
        (None, Some(c), _) => RevocationSubject::Client(c),
        (None, None, Some(s)) => RevocationSubject::Session(s),
        (None, None, None) => {
            return Err(Failure::usage("give --user, --client or --session"));
        }
    };
    let issued_after = args.issued_after.as_deref().map(parse_time).transpose()?;
    let done = revocation::revoke(store, &subject, issued_after, now, "cli").await?;
    print_revocation(&done, output)
}

/// `portcullis user set-password NAME [--password-stdin]`
pub async fn set_password(
    store: &dyn Store,
    username: &str,
    password_stdin: bool,
    output: OutputFormat,
    now: UnixTime,
) -> Result<(), Failure> {
    let password = read_password(password_stdin)?;
    let done = users::set_password(store, username, password, now, "cli").await?;
    print_revocation(&done, output)
}

/// `portcullis client update …`
pub async fn update_client(
    store: &dyn Store,
    args: ClientUpdate,
    now: UnixTime,
) -> Result<(), Failure> {
    let changes = ClientChanges {
        client_name: args.name,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        scopes: args.scopes,
        default_scopes: args.default_scopes,
        audiences: args.audiences,
        allowed_origins: args.allowed_origins,
        skip_consent: args.skip_consent,
    };
    let client = update(store, &args.client_id, changes, now, "cli").await?;
    print_json(&super::client_json(&client))
}

/// `portcullis user update …`
pub async fn update_user(
    store: &dyn Store,
    username: &str,
    email: Option<String>,
    name: Option<String>,
    claims: Option<String>,
    now: UnixTime,
) -> Result<(), Failure> {
    let claims = claims
        .map(|text| match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Failure::usage("--claims must be a JSON object")),
        })
        .transpose()?;
    let changes = users::UserChanges {
        email,
        name,
        claims,
    };
    let user = users::update_user(store, username, changes, now, "cli").await?;
    print_json(&json!({
        "user_id": user.user_id, "username": user.username, "email": user.email,
        "name": user.name, "claims": user.claims, "disabled_at": user.disabled_at,
        "updated_at": user.updated_at,
    }))
}

/// `portcullis user disable|enable NAME`
pub async fn set_disabled(
    store: &dyn Store,
    username: &str,
    disabled: bool,
    output: OutputFormat,
    now: UnixTime,
) -> Result<(), Failure> {
    let done = users::set_disabled(store, username, disabled, now, "cli").await?;
    print_revocation(&done, output)
}

/// `portcullis user unlock NAME`
pub async fn unlock(store: &dyn Store, username: &str) -> Result<(), Failure> {
    let was_throttled = users::unlock(store, username, "cli").await?;
    print_json(&json!({"unlocked": username, "was_throttled": was_throttled}))
}

/// A new password: the first line of standard input with `--password-stdin`, else
/// asked for twice on the terminal without echo (`rpassword`).
///
/// # Errors
/// A usage failure: nothing on standard input, no terminal to ask on (the message
/// names `--password-stdin`), or two answers that differ.
pub fn read_password(from_stdin: bool) -> Result<SecretString, Failure> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            Failure::usage(format!("cannot read the password from standard input: {e}"))
        })?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage(
                "no terminal to ask for the password on: pipe it in with --password-stdin (`echo … | portcullis user … --password-stdin`)",
            ));
        }
        let asked = |prompt: &str| {
            rpassword::prompt_password(prompt)
                .map_err(|e| Failure::usage(format!("cannot read the password: {e}")))
        };
        let first = asked("New password: ")?;
        if first != asked("Again: ")? {
            return Err(Failure::usage(
                "the two passwords differ; nothing was changed",
            ));
        }
        first
    };
    if password.is_empty() {
        return Err(Failure::usage(
            "the password is empty (pipe it in: `echo … | portcullis user … --password-stdin`)",
        ));
    }
    Ok(SecretString::from(password))
}

/// `T` as RFC 3339 (`2026-01-31T12:00:00Z`) or seconds since the epoch.
///
/// # Errors
/// A usage failure naming both accepted forms.
pub fn parse_time(text: &str) -> Result<UnixTime, Failure> {
    if let Ok(seconds) = text.trim().parse::<i64>() {
        return Ok(seconds);
    }
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| {
            Failure::usage(format!(
                "`{text}` is not a time: give RFC 3339 (2026-01-31T12:00:00Z) or seconds since the epoch"
            ))
        })
}

fn print_revocation(done: &Revocation, output: OutputFormat) -> Result<(), Failure> {
    match output {
        OutputFormat::Json => print_json(&serde_json::to_value(done).unwrap_or(Value::Null)),
        OutputFormat::Table => {
            let c = done.counts;
            crate::output::line(&format!(
                "ended {} session(s); revoked {} refresh token famil{} and {} access token(s) issued with them; withdrew {} unredeemed code(s)",
                c.sessions,
                c.refresh_families,
                if c.refresh_families == 1 { "y" } else { "ies" },
                c.access_tokens,
                c.pending_grants
            ));
            Ok(())
        }
    }
}

fn print_sessions(
    sessions: &[SessionView],
    output: OutputFormat,
    now: UnixTime,
) -> Result<(), Failure> {
    match output {
        OutputFormat::Json => print_json(&serde_json::to_value(sessions).unwrap_or(Value::Null)),
        OutputFormat::Table => {
            let rows = sessions
                .iter()
                .map(|s| {
                    vec![
                        s.session_id.chars().take(16).collect(),
                        s.username.clone(),
                        human_time(s.created_at, now),
                        human_time(s.expires_at, now),
                        s.client_ids.join(", "),
                    ]
                })
                .collect();
            table(
                &["SESSION", "USER", "SIGNED IN", "EXPIRES", "CLIENTS"],
                rows,
            );
            Ok(())
        }
    }
}

/// `portcullis keys list`: each key's stage in plain words.
pub fn print_keys(
    keys: &[StoredSigningKey],
    output: OutputFormat,
    now: UnixTime,
) -> Result<(), Failure> {
    match output {
        OutputFormat::Json => {
            let out: Vec<Value> = keys
                .iter()
                .map(|k| {
                    json!({
                        "kid": k.kid, "alg": k.alg.as_str(), "stage": stage(k, now),
                        "status": k.status.as_str(), "published": k.is_published(now),
                        "created_at": k.created_at, "activate_at": k.activate_at,
                        "retired_at": k.retired_at, "publish_until": k.publish_until,
                    })
                })
                .collect();
            print_json(&Value::Array(out))
        }
        OutputFormat::Table => {
            let rows = keys
                .iter()
                .map(|k| {
                    vec![
                        k.kid.clone(),
                        k.alg.as_str().to_owned(),
                        stage_words(k, now),
                        human_time(k.created_at, now),
                    ]
                })
                .collect();
            table(&["KID", "ALG", "STAGE", "CREATED"], rows);
            Ok(())
        }
    }
}

/// `portcullis keys rotate`: JSON, or one sentence per algorithm naming what signs
/// when.
pub fn print_rotations(
    rotations: &[Rotation],
    output: OutputFormat,
    now: UnixTime,
) -> Result<(), Failure> {
    if output == OutputFormat::Json {
        return print_json(&serde_json::to_value(rotations).unwrap_or(Value::Null));
    }
    for r in rotations {
        let new = if r.status == "active" {
            format!("{}: new key {} is signing now", r.alg, r.new_kid)
        } else {
            format!(
                "{}: new key {} is next (published now, signs from {})",
                r.alg,
                r.new_kid,
                human_time(r.activate_at, now)
            )
        };
        let old = match (&r.replaced_kid, r.status == "active") {
            (Some(old), true) => format!(
                "; {old} is retiring (still verifies until {})",
                human_time(r.retired_published_until, now)
            ),
            (Some(old), false) => format!(
                "; {old} keeps signing until then, then is retiring (still verifies until at least {})",
                human_time(r.retired_published_until, now)
            ),
            (None, _) => String::new(),
        };
        crate::output::line(&format!("{new}{old}"));
    }
    Ok(())
}

/// `signing`, `next`, `retiring` (retired, still published so its tokens verify) or
/// `retired` (no longer published).
pub fn stage(key: &StoredSigningKey, now: UnixTime) -> &'static str {
    match key.status {
        KeyStatus::Active => "signing",
        KeyStatus::Next => "next",
        KeyStatus::Retired if key.is_published(now) => "retiring",
        KeyStatus::Retired => "retired",
    }
}

fn stage_words(key: &StoredSigningKey, now: UnixTime) -> String {
    match (stage(key, now), key.activate_at, key.publish_until) {
        ("next", Some(at), _) => format!("next (signs from {})", human_time(at, now)),
        ("retiring", _, Some(until)) => {
            format!("retiring (still verifies until {})", human_time(until, now))
        }
        (stage, _, _) => stage.to_owned(),
    }
}

/// `2026-01-31T12:00:00Z (3 min ago)` or `(in 2 h)`.
pub fn human_time(t: UnixTime, now: UnixTime) -> String {
    let at = OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string());
    let delta = now.saturating_sub(t);
    let span = |s: i64| match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    };
    if delta >= 0 {
        format!("{at} ({} ago)", span(delta))
    } else {
        format!("{at} (in {})", span(delta.saturating_neg()))
    }
}

/// Prints `rows` under `headers` in columns two spaces apart.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let render = |cells: Vec<String>| {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        line.join("  ").trim_end().to_owned()
    };
    crate::output::line(&render(headers.iter().map(|h| (*h).to_owned()).collect()));
    if rows.is_empty() {
        crate::output::line("(none)");
    }
    for row in rows {
        crate::output::line(&render(row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_rfc_3339_or_unix_seconds() {
        assert_eq!(parse_time("1800000000").unwrap(), 1_800_000_000);
        assert_eq!(parse_time("2027-01-15T08:00:00Z").unwrap(), 1_800_000_000);
        assert_eq!(
            parse_time("2027-01-15T09:00:00+01:00").unwrap(),
            1_800_000_000
        );
        let e = parse_time("yesterday").unwrap_err();
        assert_eq!(e.exit_code, 2);
        assert!(e.message.contains("RFC 3339"), "{}", e.message);
    }

    #[test]
    fn human_times_say_how_long_ago() {
        assert_eq!(
            human_time(1_800_000_000, 1_800_000_180),
            "2027-01-15T08:00:00Z (3 min ago)"
        );
        assert_eq!(
            human_time(1_800_007_200, 1_800_000_000),
            "2027-01-15T10:00:00Z (in 2 h)"
        );
    }
}
