// The single-page app example (crates/portcullis/examples/spa, oidc-client-ts bundled
// with esbuild by the Rust test) in Debian's Chromium, driven by playwright-core:
// sign in (authorization code + PKCE, through the login and consent pages) → UserInfo
// → refresh (refresh token grant) → sign out (RP-Initiated Logout), with zero console
// errors. Then the same page served from an origin no client allows tries UserInfo and
// the token endpoint: the browser must refuse both (a CORS failure the page sees).
//
// Run by crates/portcullis/tests/it/browser.rs; by hand:
//   ISSUER=http://127.0.0.1:8080 CLIENT_ID=demo-spa USERNAME=demo PASSWORD=… SPA_PORT=5173 \
//   BUNDLE_DIR=../../examples/spa/dist SCREENSHOT_DIR=/tmp/shots CHROMIUM=/usr/bin/chromium \
//   node spa.mjs
//
// Prints exactly one JSON line on stdout: {"ok":true,…} or {"ok":false,"error":…} with
// exit code 1. Diagnostics go to stderr.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { serve } from "../../examples/spa/serve.mjs";

const STEP_TIMEOUT_MS = 15_000;
const FLOW_TIMEOUT_MS = 50_000;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
];

const report = {
  ok: false,
  spa_origin: null,
  foreign_origin: null,
  signed_in: null,
  consent_shown: false,
  userinfo: null,
  refreshed: null,
  token_grants: [],
  signed_out: null,
  console_errors: [],
  failed_requests: [],
  navigations: [],
  foreign: null,
  screenshots: {},
};

let browser;
let current; // the page in use, for the failure report
const servers = [];
try {
  const env = readEnv();
  await mkdir(env.screenshotDir, { recursive: true });
  Object.assign(report, await withTimeout(run(env), FLOW_TIMEOUT_MS, "the SPA flow"));
  report.ok = true;
} catch (error) {
  report.ok = false;
  report.error = error instanceof Error ? error.message : String(error);
  report.last_url = current?.url() ?? null;
  report.last_text = await current?.locator("body").innerText().catch(() => null);
} finally {
  await browser?.close().catch((e) => console.error(`closing the browser: ${e}`));
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
}
process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(report.ok ? 0 : 1));

async function run(env) {
  const config = { authority: env.issuer, client_id: env.clientId, scope: "openid profile offline_access" };
  const spa = await serve({ port: env.spaPort, bundleDir: env.bundleDir, config });
  const foreign = await serve({ port: 0, bundleDir: env.bundleDir, config });
  servers.push(spa.server, foreign.server);
  // The registered origin (a redirect URI's), and one no client allows.
  const spaUrl = `http://localhost:${spa.port}/`;
  const foreignUrl = `http://127.0.0.1:${foreign.port}/`;
  report.spa_origin = new URL(spaUrl).origin;
  report.foreign_origin = new URL(foreignUrl).origin;

  browser = await chromium.launch({ executablePath: env.chromium, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 720, height: 900 } });
  const page = await context.newPage();
  current = page;
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("console", (msg) => {
    if (msg.type() === "error") {
      report.console_errors.push({ url: page.url(), source: msg.location()?.url || null, text: msg.text() });
    }
  });
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) report.navigations.push(frame.url());
  });
  page.on("pageerror", (err) => report.console_errors.push({ url: page.url(), text: String(err) }));
  page.on("response", (res) => {
    if (res.status() >= 400) report.failed_requests.push({ url: res.url(), status: res.status() });
  });
  page.on("requestfailed", (req) =>
    report.failed_requests.push({ url: req.url(), error: req.failure()?.errorText ?? "failed" }),
  );
  // Which grants the page used at the token endpoint (the refresh must be a
  // refresh_token grant, not a hidden iframe to /authorize).
  page.on("request", (req) => {
    if (req.method() === "POST" && req.url() === `${env.issuer}/token`) {
      report.token_grants.push(new URLSearchParams(req.postData() ?? "").get("grant_type"));
    }
  });

  // 1. The app, signed out.
  await page.goto(spaUrl, { waitUntil: "load" });
  await waitForState(page, "signed-out");
  await shot(page, env, "spa-start.png");

  // 2. Sign in: to /authorize, the login page, the consent page, back with a code.
  await page.locator("#sign-in").click();
  await page.waitForURL((url) => url.pathname === "/login");
  await page.locator('input[name="username"]').fill(env.username);
  await page.locator('input[name="password"]').fill(env.password);
  await page.locator('form button[type="submit"]').first().click();
  const approve = page.locator('button[name="decision"][value="approve"]');
  const next = await Promise.race([
    approve.waitFor({ state: "visible" }).then(() => "consent"),
    page.waitForURL((url) => url.origin === report.spa_origin).then(() => "app"),
  ]);
  if (next === "consent") {
    report.consent_shown = true;
    await shot(page, env, "spa-consent.png");
    await approve.click();
  }
  await page.waitForURL((url) => url.origin === report.spa_origin);
  await waitForState(page, "signed-in");
  report.signed_in = await userShown(page);
  await shot(page, env, "spa-signed-in.png");

  // 3. UserInfo with the access token (a CORS request with Authorization: preflighted).
  await page.locator("#userinfo").click();
  await waitForState(page, "userinfo");
  report.userinfo = JSON.parse(await page.locator("#userinfo-result").textContent());
  await shot(page, env, "spa-userinfo.png");

  // 4. Refresh with the refresh token.
  await page.locator("#refresh").click();
  await waitForState(page, "refreshed");
  report.refreshed = await userShown(page);
  await shot(page, env, "spa-refreshed.png");

  // 5. Sign out (RP-Initiated Logout) and back to the app.
  // The end_session_endpoint answers with a redirect to the app carrying `state`.
  const back = page.waitForEvent("framenavigated", {
    predicate: (frame) => {
      const url = new URL(frame.url());
      return frame === page.mainFrame() && url.origin === report.spa_origin && url.searchParams.has("state");
    },
  });
  await page.locator("#sign-out").click();
  await back;
  await waitForState(page, "signed-out");
  report.signed_out = await page.locator("#status").textContent();
  await shot(page, env, "spa-signed-out.png");
  if (report.console_errors.length > 0) {
    throw new Error(`console errors on the pages: ${JSON.stringify(report.console_errors)}`);
  }

  // 6. The same page from a foreign origin: the browser refuses the answers.
  const other = await (await browser.newContext()).newPage();
  current = other;
  other.setDefaultTimeout(STEP_TIMEOUT_MS);
  const foreignConsole = [];
  other.on("console", (msg) => foreignConsole.push(msg.text()));
  await other.goto(foreignUrl, { waitUntil: "load" });
  await waitForState(other, "signed-out");
  const probes = await other.evaluate(
    async ({ issuer, clientId }) => {
      const outcome = async (request) => {
        try {
          const response = await request;
          return `readable: ${response.status}`;
        } catch (e) {
          return `refused: ${e.name}: ${e.message}`;
        }
      };
      return {
        userinfo: await outcome(fetch(`${issuer}/userinfo`, { headers: { Authorization: "Bearer x" } })),
        token: await outcome(
          fetch(`${issuer}/token`, {
            method: "POST",
            body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "x", client_id: clientId }),
          }),
        ),
        discovery: await outcome(fetch(`${issuer}/.well-known/openid-configuration`)),
      };
    },
    { issuer: env.issuer, clientId: env.clientId },
  );
  report.foreign = { ...probes, console: foreignConsole };
  await shot(other, env, "spa-foreign-origin.png");
  return {};
}

/** Waits until the app's status line says `state`; an `error` state fails at once. */
async function waitForState(page, state) {
  const status = page.locator("#status");
  await page.waitForFunction(
    (wanted) => {
      const el = document.getElementById("status");
      return el && (el.dataset.state === wanted || el.dataset.state === "error");
    },
    state,
  );
  const now = await status.getAttribute("data-state");
  if (now !== state) throw new Error(`expected state ${state}, the app says: ${await status.textContent()}`);
}

async function userShown(page) {
  return JSON.parse(await page.locator("#user").textContent());
}

async function shot(page, env, name) {
  report.screenshots[name] = join(env.screenshotDir, name);
  await page.screenshot({ path: report.screenshots[name], fullPage: true });
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
    spaPort: Number(need("SPA_PORT")),
    bundleDir: need("BUNDLE_DIR"),
    screenshotDir: need("SCREENSHOT_DIR"),
    chromium: need("CHROMIUM"),
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
