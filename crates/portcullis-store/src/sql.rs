//! SQL text shared by both backends.
//!
//! Placeholders are `$1`, `$2`, …: PostgreSQL's syntax, which sqlx's SQLite driver
//! also binds by number. Statements that differ between backends are constants of
//! [`crate::Backend`] instead.

/// Columns of `clients`, in [`crate::codec::ClientRecord`] and [`bind_client`] order.
macro_rules! client_columns {
    () => {
        "client_id, client_name, secret_digest, previous_secret_digest, \
         previous_secret_expires_at, token_endpoint_auth_method, redirect_uris, \
         post_logout_redirect_uris, grant_types, scopes, audiences, skip_consent, \
         introspection_audiences, id_token_signed_response_alg, claims, source, created_at, \
         updated_at"
    };
}

/// `INSERT INTO clients`, binding [`client_columns`] as `$1`…`$18`.
macro_rules! client_insert {
    () => {
        concat!(
            "INSERT INTO clients (",
            client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18)"
        )
    };
}

/// Binds a [`crate::codec::ClientRecord`] as `$1`…`$18` of [`client_insert`].
macro_rules! bind_client {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.client_id)
            .bind(r.client_name)
            .bind(r.secret_digest)
            .bind(r.previous_secret_digest)
            .bind(r.previous_secret_expires_at)
            .bind(r.token_endpoint_auth_method)
            .bind(r.redirect_uris)
            .bind(r.post_logout_redirect_uris)
            .bind(r.grant_types)
            .bind(r.scopes)
            .bind(r.audiences)
            .bind(r.skip_consent)
            .bind(r.introspection_audiences)
            .bind(r.id_token_signed_response_alg)
            .bind(r.claims)
            .bind(r.source)
            .bind(r.created_at)
            .bind(r.updated_at)
    }};
}
pub(crate) use bind_client;

/// Columns of `users`, in [`crate::codec::UserRecord`] and [`bind_user`] order.
macro_rules! user_columns {
    () => {
        "user_id, username, password_hash, email, name, claims, source, created_at, updated_at"
    };
}

/// `INSERT INTO users`, binding [`user_columns`] as `$1`…`$9`.
macro_rules! user_insert {
    () => {
        concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
    };
}

/// Binds a [`crate::codec::UserRecord`] as `$1`…`$9` of [`user_insert`].
macro_rules! bind_user {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.user_id)
            .bind(r.username)
            .bind(r.password_hash)
            .bind(r.email)
            .bind(r.name)
            .bind(r.claims)
            .bind(r.source)
            .bind(r.created_at)
            .bind(r.updated_at)
    }};
}
pub(crate) use bind_user;

/// Columns of `signing_keys`, in [`crate::codec::SigningKeyRecord`] order.
macro_rules! key_columns {
    () => {
        "kid, alg, status, public_jwk, sealed_private_key, created_at, retired_at, publish_until, activate_at"
    };
}

/// Binds a [`crate::codec::SigningKeyRecord`] as `$1`…`$5` of [`KEY_INSERT_ACTIVE`].
macro_rules! bind_new_key {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.kid)
            .bind(r.alg)
            .bind(r.public_jwk)
            .bind(r.sealed_private_key)
            .bind(r.created_at)
    }};
}
pub(crate) use bind_new_key;

/// Columns of `browser_sessions`, in [`crate::codec::SessionRecord`] and
/// [`bind_session`] order.
macro_rules! session_columns {
    () => {
        "session_digest, user_id, auth_time, created_at, expires_at"
    };
}

/// Binds a [`crate::codec::SessionRecord`] as `$1`…`$5` of [`SESSION_INSERT`].
macro_rules! bind_session {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.session_digest)
            .bind(r.user_id)
            .bind(r.auth_time)
            .bind(r.created_at)
            .bind(r.expires_at)
    }};
}
pub(crate) use bind_session;

/// Columns of `pending_authorizations`, in
/// [`crate::codec::PendingAuthorizationRecord`] and [`bind_pending`] order.
macro_rules! pending_columns {
    () => {
        "id_digest, request, browser_digest, csrf_token, user_id, auth_time, created_at, \
         expires_at, device_code_digest, device_user_code"
    };
}

/// Binds a [`crate::codec::PendingAuthorizationRecord`] as `$1`…`$10` of
/// [`PENDING_INSERT`].
macro_rules! bind_pending {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.id_digest)
            .bind(r.request)
            .bind(r.browser_digest)
            .bind(r.csrf_token)
            .bind(r.user_id)
            .bind(r.auth_time)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.device_code_digest)
            .bind(r.device_user_code)
    }};
}
pub(crate) use bind_pending;

/// Columns of `authorization_codes`, in [`crate::codec::AuthorizationCodeRecord`] and
/// [`bind_code`] order.
macro_rules! code_columns {
    () => {
        "code_digest, client_id, user_id, redirect_uri, redirect_uri_sent, code_challenge, \
         scopes, resources, nonce, auth_time, created_at, expires_at, consumed_at, \
         access_token_jti, access_token_expires_at"
    };
}

/// Binds a [`crate::codec::AuthorizationCodeRecord`] as `$1`…`$15` of [`CODE_INSERT`].
macro_rules! bind_code {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.code_digest)
            .bind(r.client_id)
            .bind(r.user_id)
            .bind(r.redirect_uri)
            .bind(r.redirect_uri_sent)
            .bind(r.code_challenge)
            .bind(r.scopes)
            .bind(r.resources)
            .bind(r.nonce)
            .bind(r.auth_time)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.consumed_at)
            .bind(r.access_token_jti)
            .bind(r.access_token_expires_at)
    }};
}
pub(crate) use bind_code;

/// Columns of `refresh_tokens`, in [`crate::codec::RefreshTokenRecord`] and
/// [`bind_refresh_token`] order.
macro_rules! refresh_token_columns {
    () => {
        "token_digest, family_id, client_id, user_id, scopes, resources, auth_time, \
         created_at, expires_at, rotated_at, revoked_at"
    };
}

/// Binds a [`crate::codec::RefreshTokenRecord`] as `$1`…`$11` of
/// [`REFRESH_TOKEN_INSERT`].
macro_rules! bind_refresh_token {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.token_digest)
            .bind(r.family_id)
            .bind(r.client_id)
            .bind(r.user_id)
            .bind(r.scopes)
            .bind(r.resources)
            .bind(r.auth_time)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.rotated_at)
            .bind(r.revoked_at)
    }};
}
pub(crate) use bind_refresh_token;

/// Columns of `device_authorizations`, in [`crate::codec::DeviceAuthorizationRecord`]
/// and [`bind_device`] order.
macro_rules! device_columns {
    () => {
        "device_code_digest, user_code_digest, client_id, scopes, resources, status, user_id, \
         auth_time, poll_interval, last_polled_at, last_poll_too_fast, consumed_at, created_at, \
         expires_at"
    };
}

/// Binds a [`crate::codec::DeviceAuthorizationRecord`] as `$1`…`$14` of
/// [`DEVICE_INSERT`].
macro_rules! bind_device {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.device_code_digest)
            .bind(r.user_code_digest)
            .bind(r.client_id)
            .bind(r.scopes)
            .bind(r.resources)
            .bind(r.status)
            .bind(r.user_id)
            .bind(r.auth_time)
            .bind(r.poll_interval)
            .bind(r.last_polled_at)
            .bind(r.last_poll_too_fast)
            .bind(r.consumed_at)
            .bind(r.created_at)
            .bind(r.expires_at)
    }};
}
pub(crate) use bind_device;

/// Round trip for readiness checks.
pub(crate) const PING: &str = "SELECT 1";

/// `$1` = client_id.
pub(crate) const CLIENT_GET: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients WHERE client_id = $1"
);

/// Every client; ids compare by code point on both backends.
pub(crate) const CLIENT_LIST: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients ORDER BY client_id"
);

/// See [`client_insert`].
pub(crate) const CLIENT_INSERT: &str = client_insert!();

/// [`client_insert`] that replaces every column but `created_at` on an existing id.
pub(crate) const CLIENT_UPSERT: &str = concat!(
    client_insert!(),
    " ON CONFLICT (client_id) DO UPDATE SET",
    " client_name = excluded.client_name,",
    " secret_digest = excluded.secret_digest,",
    " previous_secret_digest = excluded.previous_secret_digest,",
    " previous_secret_expires_at = excluded.previous_secret_expires_at,",
    " token_endpoint_auth_method = excluded.token_endpoint_auth_method,",
    " redirect_uris = excluded.redirect_uris,",
    " post_logout_redirect_uris = excluded.post_logout_redirect_uris,",
    " grant_types = excluded.grant_types,",
    " scopes = excluded.scopes,",
    " audiences = excluded.audiences,",
    " skip_consent = excluded.skip_consent,",
    " introspection_audiences = excluded.introspection_audiences,",
    " id_token_signed_response_alg = excluded.id_token_signed_response_alg,",
    " claims = excluded.claims,",
    " source = excluded.source,",
    " updated_at = excluded.updated_at"
);

/// `$1` = client_id.
pub(crate) const CLIENT_DELETE: &str = "DELETE FROM clients WHERE client_id = $1";

/// `$1` = client_id, `$2` = current digest, `$3`/`$4` = previous digest and its
/// expiry (both NULL when there is none), `$5` = now.
pub(crate) const CLIENT_SET_SECRETS: &str = "UPDATE clients SET secret_digest = $2, \
     previous_secret_digest = $3, previous_secret_expires_at = $4, updated_at = $5 \
     WHERE client_id = $1";

/// `$1` = username.
pub(crate) const USER_GET_BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE username = $1"
);

/// `$1` = user_id.
pub(crate) const USER_GET: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE user_id = $1");

/// Every user; usernames compare by code point on both backends.
pub(crate) const USER_LIST: &str =
    concat!("SELECT ", user_columns!(), " FROM users ORDER BY username");

/// See [`user_insert`].
pub(crate) const USER_INSERT: &str = user_insert!();

/// [`user_insert`] that keeps `user_id` and `created_at` of an existing username.
pub(crate) const USER_UPSERT: &str = concat!(
    user_insert!(),
    " ON CONFLICT (username) DO UPDATE SET",
    " password_hash = excluded.password_hash,",
    " email = excluded.email,",
    " name = excluded.name,",
    " claims = excluded.claims,",
    " source = excluded.source,",
    " updated_at = excluded.updated_at"
);

/// `$1` = username.
pub(crate) const USER_DELETE: &str = "DELETE FROM users WHERE username = $1";

/// Every key, oldest first (`kid` breaks ties so the order is total).
pub(crate) const KEY_LIST: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM signing_keys ORDER BY created_at, kid"
);

/// Inserts an active key: `$1` kid, `$2` alg, `$3` public JWK, `$4` sealed private
/// key, `$5` created_at. The partial unique index refuses a second active key per alg.
pub(crate) const KEY_INSERT_ACTIVE: &str = "INSERT INTO signing_keys \
     (kid, alg, status, public_jwk, sealed_private_key, created_at, retired_at, publish_until) \
     VALUES ($1, $2, 'active', $3, $4, $5, NULL, NULL)";

/// Inserts a `next` key: `$1`…`$5` as [`KEY_INSERT_ACTIVE`], `$6` activate_at. The
/// partial unique index refuses a second pending rotation per alg.
pub(crate) const KEY_INSERT_NEXT: &str = "INSERT INTO signing_keys \
     (kid, alg, status, public_jwk, sealed_private_key, created_at, retired_at, publish_until, activate_at) \
     VALUES ($1, $2, 'next', $3, $4, $5, NULL, NULL, $6)";

/// Emergency rotation: retires the active and any `next` key of `$1` (alg): `$2`
/// retired_at, `$3` publish_until.
pub(crate) const KEY_RETIRE_ACTIVE: &str = "UPDATE signing_keys \
     SET status = 'retired', retired_at = $2, publish_until = $3 \
     WHERE alg = $1 AND status IN ('active', 'next')";

/// First half of a promotion: retires the active key of the algorithm of `$1` (kid)
/// only if `$1` is a `next` key due at `$2` (now); `$3` publish_until. Racing nodes:
/// the row lock makes the second wait, then find the key no longer active.
pub(crate) const KEY_RETIRE_FOR_PROMOTION: &str = "UPDATE signing_keys \
     SET status = 'retired', retired_at = $2, publish_until = $3 \
     WHERE status = 'active' AND alg = (SELECT alg FROM signing_keys \
         WHERE kid = $1 AND status = 'next' AND activate_at <= $2)";

/// Second half: `$1` (kid) becomes active if it is still a `next` key due at `$2`
/// (now). One row affected: this transaction promoted it.
pub(crate) const KEY_PROMOTE: &str = "UPDATE signing_keys SET status = 'active' \
     WHERE kid = $1 AND status = 'next' AND activate_at <= $2";

/// Deletes retired keys no longer published at `$1` (now).
pub(crate) const KEY_PURGE: &str =
    "DELETE FROM signing_keys WHERE status = 'retired' AND publish_until <= $1";

/// See [`session_columns`].
pub(crate) const SESSION_INSERT: &str = concat!(
    "INSERT INTO browser_sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5)"
);

/// `$1` = session digest, `$2` = now: only a live session.
pub(crate) const SESSION_GET: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM browser_sessions WHERE session_digest = $1 AND expires_at > $2"
);

/// `$1` = session digest.
pub(crate) const SESSION_DELETE: &str = "DELETE FROM browser_sessions WHERE session_digest = $1";

/// `$1` = user_id: every session of the user (served by `browser_sessions_user_id`).
pub(crate) const SESSION_DELETE_FOR_USER: &str = "DELETE FROM browser_sessions WHERE user_id = $1";

/// See [`pending_columns`].
pub(crate) const PENDING_INSERT: &str = concat!(
    "INSERT INTO pending_authorizations (",
    pending_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);

/// `$1` = id digest, `$2` = now: only a live request.
pub(crate) const PENDING_GET: &str = concat!(
    "SELECT ",
    pending_columns!(),
    " FROM pending_authorizations WHERE id_digest = $1 AND expires_at > $2"
);

/// `$1` = id digest, `$2` = user_id, `$3` = auth_time, `$4` = now: only a live request.
pub(crate) const PENDING_SET_USER: &str = "UPDATE pending_authorizations \
     SET user_id = $2, auth_time = $3 WHERE id_digest = $1 AND expires_at > $4";

/// `$1` = id digest, `$2` = now. Single use in one statement: of two concurrent
/// takes, only one deletes the row and gets it back.
pub(crate) const PENDING_TAKE: &str = concat!(
    "DELETE FROM pending_authorizations WHERE id_digest = $1 AND expires_at > $2 RETURNING ",
    pending_columns!()
);

/// `$1` = user_id, `$2` = client_id.
pub(crate) const CONSENT_GET: &str =
    "SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2";

/// See [`code_columns`].
pub(crate) const CODE_INSERT: &str = concat!(
    "INSERT INTO authorization_codes (",
    code_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
);

/// `$1` = code digest; consumed or not, expired or not.
pub(crate) const CODE_GET: &str = concat!(
    "SELECT ",
    code_columns!(),
    " FROM authorization_codes WHERE code_digest = $1"
);

/// `$1` = code digest, `$2` = now, `$3` = access token jti, `$4` = its exp. Single
/// use in one conditional statement (DESIGN.md "Storage"): of any number of
/// concurrent redemptions, exactly one affects a row.
pub(crate) const CODE_CONSUME: &str = "UPDATE authorization_codes \
     SET consumed_at = $2, access_token_jti = $3, access_token_expires_at = $4 \
     WHERE code_digest = $1 AND consumed_at IS NULL AND expires_at > $2";

/// `$1` = jti, `$2` = the token's exp. Revoking twice keeps the first row.
pub(crate) const ACCESS_TOKEN_REVOKE: &str = "INSERT INTO revoked_access_tokens (jti, expires_at) \
     VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING";

/// `$1` = jti.
pub(crate) const ACCESS_TOKEN_IS_REVOKED: &str =
    "SELECT jti FROM revoked_access_tokens WHERE jti = $1";

/// See [`refresh_token_columns`].
pub(crate) const REFRESH_TOKEN_INSERT: &str = concat!(
    "INSERT INTO refresh_tokens (",
    refresh_token_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

/// `$1` = token digest; live, rotated, revoked or expired.
pub(crate) const REFRESH_TOKEN_GET: &str = concat!(
    "SELECT ",
    refresh_token_columns!(),
    " FROM refresh_tokens WHERE token_digest = $1"
);

/// `$1` = token digest, `$2` = now. Rotation in one conditional statement (DESIGN.md
/// "Storage"): of any number of concurrent uses, exactly one affects the row and gets
/// its family back; the others find it rotated. On PostgreSQL the losers wait on the
/// winner's row lock, then re-check the WHERE on the committed row (READ COMMITTED).
pub(crate) const REFRESH_TOKEN_ROTATE: &str = "UPDATE refresh_tokens SET rotated_at = $2 \
     WHERE token_digest = $1 AND rotated_at IS NULL AND revoked_at IS NULL \
     AND expires_at > $2 RETURNING family_id";

/// `$1` = family_id, `$2` = now: every token of the family not yet revoked.
pub(crate) const REFRESH_FAMILY_REVOKE: &str = "UPDATE refresh_tokens SET revoked_at = $2 \
     WHERE family_id = $1 AND revoked_at IS NULL";

/// `$1` = family_id: the access tokens issued in the family go on the revocation list
/// until their exp; those already on it keep their row.
pub(crate) const REFRESH_FAMILY_REVOKE_ACCESS_TOKENS: &str = "INSERT INTO revoked_access_tokens \
     (jti, expires_at) SELECT jti, expires_at FROM family_access_tokens WHERE family_id = $1 \
     ON CONFLICT (jti) DO NOTHING";

/// `$1` = jti, `$2` = family_id, `$3` = the access token's exp.
pub(crate) const FAMILY_ACCESS_TOKEN_INSERT: &str =
    "INSERT INTO family_access_tokens (jti, family_id, expires_at) VALUES ($1, $2, $3)";

/// `$1` = jti.
pub(crate) const ACCESS_TOKEN_FAMILY: &str =
    "SELECT family_id FROM family_access_tokens WHERE jti = $1";

/// See [`device_columns`].
pub(crate) const DEVICE_INSERT: &str = concat!(
    "INSERT INTO device_authorizations (",
    device_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
);

/// `$1` = device code digest, whatever the row's state.
pub(crate) const DEVICE_GET: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE device_code_digest = $1"
);

/// `$1` = user code digest, `$2` = now: only a row still waiting for the user.
pub(crate) const DEVICE_FIND_BY_USER_CODE: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE user_code_digest = $1 AND status = 'pending' \
     AND consumed_at IS NULL AND expires_at > $2"
);

/// `$1` = device code digest, `$2` = status (`approved` or `denied`), `$3`/`$4` =
/// user_id and auth_time (both NULL for `denied`), `$5` = now. Decided once, in one
/// statement: of two concurrent decisions only one finds the row pending.
pub(crate) const DEVICE_DECIDE: &str = "UPDATE device_authorizations \
     SET status = $2, user_id = $3, auth_time = $4 \
     WHERE device_code_digest = $1 AND status = 'pending' AND expires_at > $5";

/// `$1` = device code digest, `$2` = client_id, `$3` = now, `$4` = the slow_down
/// increment. One statement records the poll, decides whether it came too soon and
/// grows the interval if so (RFC 8628 §3.5): every SET expression reads the row as it
/// was before this UPDATE, on both backends, and concurrent polls of one row queue on
/// its write lock (PostgreSQL re-evaluates them on the row the previous one left), so
/// each too-soon poll adds the increment once. Another client's poll matches no row.
pub(crate) const DEVICE_POLL: &str = concat!(
    "UPDATE device_authorizations SET \
     poll_interval = CASE WHEN last_polled_at IS NOT NULL AND $3 < last_polled_at + poll_interval \
         THEN poll_interval + $4 ELSE poll_interval END, \
     last_poll_too_fast = (last_polled_at IS NOT NULL AND $3 < last_polled_at + poll_interval), \
     last_polled_at = $3 \
     WHERE device_code_digest = $1 AND client_id = $2 RETURNING ",
    device_columns!()
);

/// `$1` = device code digest, `$2` = now. Single use in one statement: of two
/// concurrent polls of an approved code, only one consumes it.
pub(crate) const DEVICE_CONSUME: &str = "UPDATE device_authorizations SET consumed_at = $2 \
     WHERE device_code_digest = $1 AND status = 'approved' AND consumed_at IS NULL \
     AND expires_at > $2";

// The purge of expired rows (`Store::purge_expired`): `$1` = now, `$2` = the most rows
// to delete. Each is one statement that picks a batch by primary key through the
// `expires_at` index, then deletes it: `DELETE … LIMIT` exists on neither backend
// (SQLite only when built with SQLITE_ENABLE_UPDATE_DELETE_LIMIT).

/// Expired pending authorization requests.
pub(crate) const PURGE_PENDING: &str = "DELETE FROM pending_authorizations WHERE id_digest IN \
     (SELECT id_digest FROM pending_authorizations WHERE expires_at <= $1 LIMIT $2)";

/// Expired browser sessions.
pub(crate) const PURGE_SESSIONS: &str = "DELETE FROM browser_sessions WHERE session_digest IN \
     (SELECT session_digest FROM browser_sessions WHERE expires_at <= $1 LIMIT $2)";

/// Expired codes, except a redeemed one whose access token still lives: a replay
/// of it must still find the token to revoke (RFC 6749 §4.1.2).
pub(crate) const PURGE_CODES: &str = "DELETE FROM authorization_codes WHERE code_digest IN \
     (SELECT code_digest FROM authorization_codes WHERE expires_at <= $1 \
     AND (access_token_expires_at IS NULL OR access_token_expires_at <= $1) LIMIT $2)";

/// Revocation-list entries of tokens that have expired anyway.
pub(crate) const PURGE_REVOKED: &str = "DELETE FROM revoked_access_tokens WHERE jti IN \
     (SELECT jti FROM revoked_access_tokens WHERE expires_at <= $1 LIMIT $2)";

/// Expired refresh tokens, live, rotated or revoked: an expired token is refused
/// whatever its state, so its row no longer decides anything.
pub(crate) const PURGE_REFRESH_TOKENS: &str = "DELETE FROM refresh_tokens WHERE token_digest IN \
     (SELECT token_digest FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)";

/// Family records of access tokens that have expired anyway.
pub(crate) const PURGE_FAMILY_ACCESS_TOKENS: &str = "DELETE FROM family_access_tokens \
     WHERE jti IN (SELECT jti FROM family_access_tokens WHERE expires_at <= $1 LIMIT $2)";

/// Expired device authorizations, whatever their state: a dead device code is refused
/// anyway, and the tokens it issued do not depend on its row.
pub(crate) const PURGE_DEVICE_AUTHORIZATIONS: &str = "DELETE FROM device_authorizations \
     WHERE device_code_digest IN (SELECT device_code_digest FROM device_authorizations \
     WHERE expires_at <= $1 LIMIT $2)";

/// Full rate-limit buckets (`tat` in milliseconds; `$1` is in seconds). The outer
/// `tat` condition is re-checked by PostgreSQL on a row a concurrent take just updated
/// (why: the subquery's snapshot alone would delete a bucket whose cell was just taken).
pub(crate) const PURGE_RATE_LIMITS: &str = "DELETE FROM rate_limits WHERE tat <= $1 * 1000 \
     AND key IN (SELECT key FROM rate_limits WHERE tat <= $1 * 1000 LIMIT $2)";

/// Takes a cell from one bucket (GCRA): `$1` = key, `$2` = now (ms), `$3` = interval
/// (ms). Stores `max(tat, now) + interval` (a new row: `now + interval`) and returns
/// it; the caller checks it against the burst and rolls back on a refusal. One
/// statement: on PostgreSQL a concurrent take waits for the row lock, then builds on
/// the committed `tat`.
pub(crate) const RATE_LIMIT_TAKE: &str = "INSERT INTO rate_limits (key, tat) VALUES ($1, $2 + $3) \
     ON CONFLICT (key) DO UPDATE SET tat = \
     CASE WHEN rate_limits.tat > $2 THEN rate_limits.tat ELSE $2 END + $3 \
     RETURNING tat";

/// Gives a cell back: `$1` = key, `$2` = now (ms), `$3` = interval (ms);
/// `tat = max(tat − interval, now)`.
pub(crate) const RATE_LIMIT_REFUND: &str = "UPDATE rate_limits SET tat = \
     CASE WHEN tat - $3 > $2 THEN tat - $3 ELSE $2 END WHERE key = $1";
