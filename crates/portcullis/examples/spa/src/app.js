// A single-page app (a public OAuth client: no secret) signing in to Portcullis with
// oidc-client-ts: authorization code + PKCE (RFC 7636), the UserInfo endpoint (OIDC
// Core §5.3), a refresh token (RFC 6749 §6, not a hidden iframe), and RP-Initiated
// Logout 1.0. Its origin must be one the client allows (CORS): by default the origins
// of the client's redirect_uris.
//
// Settings come from ./config.json (authority, client_id, scope); the redirect and
// post-logout URIs are this page's own URL (origin + path), which the client must
// register exactly.
import { Log, UserManager, WebStorageStateStore } from "oidc-client-ts";

Log.setLogger(console);
Log.setLevel(Log.WARN);

const $ = (id) => document.getElementById(id);
const here = `${window.location.origin}${window.location.pathname}`;

/** Shows `text` in the status line; `state` is for tests and styling. */
function status(text, state, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = state;
  el.className = isError ? "error" : "";
}

/** Shows the signed-in user (or none) and enables the buttons that fit. */
function showUser(user) {
  const signedIn = Boolean(user && !user.expired);
  $("sign-in").disabled = signedIn;
  $("userinfo").disabled = !signedIn;
  $("refresh").disabled = !signedIn || !user.refresh_token;
  $("sign-out").disabled = !signedIn;
  $("user").textContent = signedIn
    ? JSON.stringify(
        {
          sub: user.profile.sub,
          name: user.profile.name,
          scope: user.scope,
          token_type: user.token_type,
          expires_in: user.expires_in,
          has_refresh_token: Boolean(user.refresh_token),
          access_token_suffix: user.access_token.slice(-12),
        },
        null,
        2,
      )
    : "(none)";
}

async function main() {
  const config = await (await fetch("./config.json", { cache: "no-store" })).json();
  const manager = new UserManager({
    authority: config.authority,
    client_id: config.client_id,
    redirect_uri: here,
    post_logout_redirect_uri: here,
    response_type: "code",
    scope: config.scope,
    // Refresh with the refresh token when the page asks; no timers, no iframes.
    automaticSilentRenew: false,
    // The page calls UserInfo itself (below), to show the request.
    loadUserInfo: false,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });

  const params = new URLSearchParams(window.location.search);
  if (params.has("error")) {
    status(`Sign-in failed: ${params.get("error")}: ${params.get("error_description") ?? ""}`, "error", true);
  } else if (params.has("code")) {
    await manager.signinRedirectCallback();
    window.history.replaceState({}, "", here);
  } else if (params.has("state")) {
    // Back from the end_session_endpoint (RP-Initiated Logout §3: `state` comes back).
    await manager.signoutRedirectCallback();
    window.history.replaceState({}, "", here);
    status("Signed out.", "signed-out");
  }

  const user = await manager.getUser();
  showUser(user);
  if ($("status").dataset.state === "loading") {
    status(user ? `Signed in as ${user.profile.sub}.` : "Not signed in.", user ? "signed-in" : "signed-out");
  }

  $("sign-in").onclick = () =>
    manager.signinRedirect().catch((e) => status(`Sign-in failed: ${e.message}`, "error", true));

  $("userinfo").onclick = async () => {
    try {
      const current = await manager.getUser();
      const metadata = await manager.metadataService.getMetadata();
      const response = await fetch(metadata.userinfo_endpoint, {
        headers: { Authorization: `Bearer ${current.access_token}` },
      });
      const body = await response.json();
      $("userinfo-result").textContent = JSON.stringify(body, null, 2);
      status(response.ok ? "UserInfo answered." : `UserInfo refused: ${response.status}`, response.ok ? "userinfo" : "error", !response.ok);
    } catch (e) {
      status(`UserInfo failed: ${e.message}`, "error", true);
    }
  };

  $("refresh").onclick = async () => {
    try {
      // With a refresh token, signinSilent uses grant_type=refresh_token (no iframe).
      const refreshed = await manager.signinSilent();
      showUser(refreshed);
      status("Tokens refreshed.", "refreshed");
    } catch (e) {
      status(`Refresh failed: ${e.message}`, "error", true);
    }
  };

  // With `state`, the end_session_endpoint sends it back (RP-Initiated Logout §3), and
  // the page knows it is back from signing out.
  $("sign-out").onclick = () =>
    manager
      .signoutRedirect({ state: { signedOutAt: Date.now() } })
      .catch((e) => status(`Sign-out failed: ${e.message}`, "error", true));
}

main().catch((e) => status(`Error: ${e.message}`, "error", true));
