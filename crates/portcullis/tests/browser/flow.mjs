// The authorization code flow (RFC 6749 §4.1 + RFC 7636 PKCE + OpenID Connect) in a
// real browser: Debian's Chromium driven by playwright-core, from a local callback
// server (a native app's loopback redirect, RFC 8252 §7.3) through the login and
// consent pages to a token.
//
// Run by crates/portcullis/tests/it/browser.rs; by hand:
//   ISSUER=http://127.0.0.1:8080 CLIENT_ID=demo-app USERNAME=demo PASSWORD=… \
//   SCREENSHOT_DIR=/tmp/shots CHROMIUM=/usr/bin/chromium node flow.mjs
//
// Prints exactly one JSON line on stdout: {"ok":true,"iss":…,"token_response":{…},…}
// or {"ok":false,"error":…,…} with exit code 1. Diagnostics go to stderr.
import { createHash, randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { chromium } from "playwright-core";

const STEP_TIMEOUT_MS = 15_000;
const FLOW_TIMEOUT_MS = 45_000;
const CONSOLE_ERROR_GRACE_MS = 2_000;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
];

const report = {
  ok: false,
  iss: null,
  token_response: null,
  nonce: null,
  authorize_status: null,
  consent_shown: false,
  login_headers: null,
  console_errors: [],
  failed_requests: [],
  screenshots: {},
};

let browser;
let callback;
try {
  const env = readEnv();
  await mkdir(env.screenshotDir, { recursive: true });
  const flow = withTimeout(run(env), FLOW_TIMEOUT_MS, "the flow");
  Object.assign(report, await flow);
  report.ok = true;
} catch (error) {
  report.ok = false;
  report.error = error instanceof Error ? error.message : String(error);
} finally {
  // Always close the browser and the callback server, whatever happened.
  await browser?.close().catch((e) => console.error(`closing the browser: ${e}`));
  callback?.server.close();
  callback?.server.closeAllConnections();
}
process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(report.ok ? 0 : 1));

/** The whole flow; throws with a plain reason at the first thing that is wrong. */
async function run(env) {
  const pkce = pkcePair();
  const state = random();
  const nonce = random();
  report.nonce = nonce;
  callback = await startCallbackServer(env, pkce.verifier, state);
  const redirectUri = `http://127.0.0.1:${callback.port}/callback`;
  callback.redirectUri = redirectUri;

  const authorize = new URL(`${env.issuer}/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: env.clientId,
    redirect_uri: redirectUri,
    scope: "openid profile",
    state,
    nonce,
    code_challenge: pkce.challenge,
    code_challenge_method: "S256",
  })) {
    authorize.searchParams.set(k, v);
  }

  browser = await chromium.launch({
    executablePath: env.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const context = await browser.newContext({ viewport: { width: 480, height: 760 } });
  // CSP violations also reach the console in Chromium; the event names the directive.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  // A console error (a CSP violation blocking the redirect, say) fails the flow soon
  // after, instead of at the flow timeout.
  let consoleError;
  const consoleErrorSeen = new Promise((resolve) => {
    consoleError = (entry) => {
      report.console_errors.push(entry);
      resolve();
    };
  });
  const failFast = consoleErrorSeen
    .then(() => delay(CONSOLE_ERROR_GRACE_MS))
    .then(() => {
      throw new Error(`console errors on the pages: ${JSON.stringify(report.console_errors)}`);
    });
  failFast.catch(() => {}); // raced below; not an unhandled rejection.
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    // Any console error fails the run, including a 404 for the /favicon.ico Chromium
    // fetches by itself (the server answers it 204).
    consoleError({ url: page.url(), source: msg.location()?.url || null, text: msg.text() });
  });
  page.on("pageerror", (err) => consoleError({ url: page.url(), text: String(err) }));
  page.on("response", (res) => {
    if (res.status() >= 400) report.failed_requests.push({ url: res.url(), status: res.status() });
  });
  page.on("requestfailed", (req) =>
    report.failed_requests.push({ url: req.url(), error: req.failure()?.errorText ?? "failed" }),
  );

  // 1. /authorize → 303 → the login page.
  const login = await page.goto(authorize.href, { waitUntil: "load" });
  if (!login) throw new Error("no response for the authorize URL");
  if (new URL(page.url()).pathname !== "/login") {
    throw new Error(`expected the login page, got ${login.status()} at ${page.url()}`);
  }
  const authorizeResponse = await login.request().redirectedFrom()?.response();
  report.authorize_status = authorizeResponse?.status() ?? null;
  const headers = await login.allHeaders();
  report.login_headers = {
    status: login.status(),
    content_security_policy: headers["content-security-policy"] ?? null,
    x_frame_options: headers["x-frame-options"] ?? null,
    referrer_policy: headers["referrer-policy"] ?? null,
  };
  if (!report.login_headers.content_security_policy) {
    throw new Error("the login page has no Content-Security-Policy header");
  }

  // 2. Sign in.
  await page.locator('input[name="username"]').fill(env.username);
  await page.locator('input[name="password"]').fill(env.password);
  report.screenshots.login = join(env.screenshotDir, "login.png");
  await page.screenshot({ path: report.screenshots.login, fullPage: true });
  const approve = page.locator('button[name="decision"][value="approve"]');
  await page.locator('form button[type="submit"]').first().click();

  // 3. Consent (unless the client skips it), then the redirect to the callback.
  const next = await Promise.race([
    approve.waitFor({ state: "visible" }).then(() => "consent"),
    callback.result.then(() => "callback"),
    failFast,
  ]);
  if (next === "consent") {
    report.consent_shown = true;
    report.screenshots.consent = join(env.screenshotDir, "consent.png");
    await page.screenshot({ path: report.screenshots.consent, fullPage: true });
    await approve.click();
  }
  const result = await Promise.race([callback.result, failFast]);
  checkIdToken(result.token_response, env, nonce);
  // Let the callback page finish loading so its console errors are counted too.
  await page.waitForURL((url) => url.pathname === "/callback").catch(() => {});
  await page.waitForLoadState("load").catch(() => {});

  if (report.console_errors.length > 0) {
    throw new Error(`console errors on the pages: ${JSON.stringify(report.console_errors)}`);
  }
  return result;
}

/**
 * The client's loopback redirect endpoint: checks `state` and `iss` (RFC 9207),
 * exchanges the code at the token endpoint and answers the browser with a small page.
 */
function startCallbackServer(env, verifier, expectedState) {
  let settle;
  const result = new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
  result.catch(() => {}); // handled by whoever awaits it; avoid an unhandled rejection.
  const handle = async (query) => {
    if (query.get("state") !== expectedState) {
      throw new Error(`state mismatch: sent ${expectedState}, got ${query.get("state")}`);
    }
    const iss = query.get("iss");
    if (iss !== env.issuer) {
      throw new Error(`iss mismatch (RFC 9207): expected ${env.issuer}, got ${iss}`);
    }
    if (query.has("error")) {
      throw new Error(
        `authorization error: ${query.get("error")} ${query.get("error_description") ?? ""}`.trim(),
      );
    }
    const code = query.get("code");
    if (!code) throw new Error("the callback has no code");
    const response = await fetch(`${env.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: self.redirectUri,
        code_verifier: verifier,
        client_id: env.clientId,
      }),
      signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`token endpoint answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (response.status !== 200) {
      throw new Error(`token endpoint answered ${response.status}: ${text.slice(0, 500)}`);
    }
    return { iss, token_response: body };
  };

  let handled = false;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/callback" || handled) {
      res.writeHead(url.pathname === "/favicon.ico" ? 204 : 404).end();
      return;
    }
    handled = true;
    handle(url.searchParams).then(
      (value) => {
        answer(res, 200, "Signed in", "The app received a token. You can close this window.");
        settle.resolve(value);
      },
      (error) => {
        answer(res, 400, "Sign-in failed", error.message);
        settle.reject(error);
      },
    );
  });
  const self = { server, result, port: 0, redirectUri: "" };
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      self.port = server.address().port;
      resolve(self);
    });
  });
}

function answer(res, status, title, message) {
  const escape = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'",
  });
  res.end(
    `<!doctype html><html lang="en"><meta charset="utf-8"><title>${escape(title)}</title>` +
      `<h1>${escape(title)}</h1><p>${escape(message)}</p></html>`,
  );
}

/**
 * The checks an RP makes that need no key (OIDC Core §3.1.3.7 items 2, 3, 11): `iss`,
 * `aud` and `nonce`. The signature is verified by the Rust integration tests.
 */
function checkIdToken(tokenResponse, env, nonce) {
  if (typeof tokenResponse?.access_token !== "string" || tokenResponse.access_token === "") {
    throw new Error("the token response has no access_token");
  }
  const idToken = tokenResponse.id_token;
  if (typeof idToken !== "string") throw new Error("the token response has no id_token");
  const parts = idToken.split(".");
  if (parts.length !== 3) throw new Error("the id_token is not a compact JWS");
  const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== env.issuer) throw new Error(`id_token iss ${claims.iss} != ${env.issuer}`);
  if (!aud.includes(env.clientId)) throw new Error(`id_token aud ${claims.aud} lacks ${env.clientId}`);
  if (claims.nonce !== nonce) throw new Error(`id_token nonce ${claims.nonce} != ${nonce}`);
}

function readEnv() {
  const need = (name) => {
    const value = process.env[name];
    if (!value) throw new Error(`environment variable ${name} is not set`);
    return value;
  };
  return {
    issuer: need("ISSUER").replace(/\/+$/, ""),
    clientId: need("CLIENT_ID"),
    username: need("USERNAME"),
    password: need("PASSWORD"),
    screenshotDir: need("SCREENSHOT_DIR"),
    chromium: need("CHROMIUM"),
  };
}

/** RFC 7636 §4.1–4.2: a 256-bit verifier and its S256 challenge. */
function pkcePair() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

function random() {
  return randomBytes(16).toString("base64url");
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
