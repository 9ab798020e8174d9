// The user's side of the device authorization grant (RFC 8628 §3.3) in a real browser:
// Debian's Chromium driven by playwright-core opens the verification_uri_complete the
// device showed, checks the pre-filled code, submits it, signs in, compares the code
// on the consent page (§5.4) and approves, ending on the "Device connected" page. The
// device side (starting the authorization, polling for the tokens) is the Rust test.
//
// Run by crates/portcullis/tests/it/browser.rs; by hand (after starting a device
// authorization, e.g. with `portcullis login`):
//   ISSUER=http://127.0.0.1:8080 USER_CODE=BCDF-GHJK \
//   VERIFICATION_URI_COMPLETE='http://127.0.0.1:8080/device?user_code=BCDF-GHJK' \
//   USERNAME=demo PASSWORD=… SCREENSHOT_DIR=/tmp/shots CHROMIUM=/usr/bin/chromium node device.mjs
//
// Prints exactly one JSON line on stdout: {"ok":true,…} or {"ok":false,"error":…,…}
// with exit code 1. Diagnostics go to stderr.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";

const STEP_TIMEOUT_MS = 15_000;
const FLOW_TIMEOUT_MS = 45_000;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
];

const report = {
  ok: false,
  entry_prefilled: null,
  entry_headers: null,
  login_shown: false,
  consent_shows_code: false,
  consent_headers: null,
  done_title: null,
  done_status: null,
  final_url: null,
  console_errors: [],
  failed_requests: [],
  screenshots: {},
};

let browser;
try {
  const env = readEnv();
  await mkdir(env.screenshotDir, { recursive: true });
  await withTimeout(run(env), FLOW_TIMEOUT_MS, "the device flow");
  report.ok = true;
} catch (error) {
  report.ok = false;
  report.error = error instanceof Error ? error.message : String(error);
} finally {
  await browser?.close().catch((e) => console.error(`closing the browser: ${e}`));
}
process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(report.ok ? 0 : 1));

/** The whole user side; throws with a plain reason at the first thing that is wrong. */
async function run(env) {
  browser = await chromium.launch({
    executablePath: env.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  // A phone-sized viewport: the pages are meant to be used on one.
  const context = await browser.newContext({ viewport: { width: 390, height: 760 } });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    report.console_errors.push({ url: page.url(), source: msg.location()?.url || null, text: msg.text() });
  });
  page.on("pageerror", (err) => report.console_errors.push({ url: page.url(), text: String(err) }));
  page.on("response", (res) => {
    if (res.status() >= 400) report.failed_requests.push({ url: res.url(), status: res.status() });
  });
  page.on("requestfailed", (req) =>
    report.failed_requests.push({ url: req.url(), error: req.failure()?.errorText ?? "failed" }),
  );

  // 1. The link from the device (or its QR code): the code is pre-filled.
  const entry = await page.goto(env.verificationUriComplete, { waitUntil: "load" });
  if (!entry || entry.status() !== 200) {
    throw new Error(`the verification page answered ${entry?.status()} at ${page.url()}`);
  }
  report.entry_headers = await securityHeaders(entry);
  const input = page.getByLabel("Code");
  report.entry_prefilled = await input.inputValue();
  if (report.entry_prefilled !== env.userCode) {
    throw new Error(`the code field holds ${JSON.stringify(report.entry_prefilled)}, not ${env.userCode}`);
  }
  report.screenshots.entry = join(env.screenshotDir, "device-entry.png");
  await page.screenshot({ path: report.screenshots.entry, fullPage: true });
  // The consent page's own response (for its headers), whichever step leads to it.
  const consentResponse = page.waitForResponse(
    (res) => new URL(res.url()).pathname === "/consent" && res.request().method() === "GET",
    { timeout: FLOW_TIMEOUT_MS },
  );
  consentResponse.catch(() => {}); // awaited below; not an unhandled rejection.
  await Promise.all([
    page.waitForURL((url) => url.pathname !== "/device"),
    page.getByRole("button", { name: "Continue" }).click(),
  ]);

  // 2. Sign in (a fresh browser has no session).
  if (new URL(page.url()).pathname === "/login") {
    report.login_shown = true;
    await page.getByLabel("Username").fill(env.username);
    await page.getByLabel("Password").fill(env.password);
    await Promise.all([
      page.waitForURL((url) => url.pathname !== "/login"),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
  }

  // 3. Consent: the code to compare is on the page; approve.
  if (new URL(page.url()).pathname !== "/consent") {
    throw new Error(`expected the consent page, got ${page.url()}`);
  }
  report.consent_headers = await securityHeaders(await consentResponse);
  const shown = page.locator(".user-code-shown");
  report.consent_shows_code = (await shown.textContent())?.trim() === env.userCode;
  if (!report.consent_shows_code) {
    throw new Error(`the consent page does not show ${env.userCode}`);
  }
  report.screenshots.consent = join(env.screenshotDir, "device-consent.png");
  await page.screenshot({ path: report.screenshots.consent, fullPage: true });
  const [done] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.locator('button[name="decision"][value="approve"]').click(),
  ]);

  // 4. The end: a page of ours, not a redirect anywhere.
  report.done_status = done?.status() ?? null;
  report.done_title = (await page.locator("h1").textContent())?.trim() ?? null;
  report.final_url = page.url();
  if (report.done_title !== "Device connected") {
    throw new Error(`expected "Device connected", got ${JSON.stringify(report.done_title)} at ${page.url()}`);
  }
  report.screenshots.done = join(env.screenshotDir, "device-done.png");
  await page.screenshot({ path: report.screenshots.done, fullPage: true });
  if (report.console_errors.length > 0) {
    throw new Error(`console errors on the pages: ${JSON.stringify(report.console_errors)}`);
  }
}

async function securityHeaders(response) {
  const headers = await response.allHeaders();
  return {
    status: response.status(),
    content_security_policy: headers["content-security-policy"] ?? null,
    x_frame_options: headers["x-frame-options"] ?? null,
    referrer_policy: headers["referrer-policy"] ?? null,
  };
}

function readEnv() {
  const need = (name) => {
    const value = process.env[name];
    if (!value) throw new Error(`environment variable ${name} is not set`);
    return value;
  };
  return {
    issuer: need("ISSUER").replace(/\/+$/, ""),
    verificationUriComplete: need("VERIFICATION_URI_COMPLETE"),
    userCode: need("USER_CODE"),
    username: need("USERNAME"),
    password: need("PASSWORD"),
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
