// DPoP (RFC 9449) through an independent client: panva's oauth4webapi makes every
// token, UserInfo and refresh request and signs every proof; Portcullis only answers.
// crates/portcullis/tests/it/oauth4webapi.rs runs this script and plays the person:
//
//   this script prints  {"authorize": URL}      the test signs in and consents, then
//   and reads           the callback URL        (one line on standard input);
//   this script prints  {"user_code": CODE}     the test approves the device code, then
//   and reads           any line.
//
// The last line on standard output is the report (JSON). Any failure: {"ok": false, …}
// and exit status 1.
//
// Environment: ISSUER, PUBLIC_CLIENT_ID, REDIRECT_URI, SCOPE, MACHINE_CLIENT_ID,
// MACHINE_CLIENT_SECRET, RESOURCE.

import * as oauth from 'oauth4webapi'
import * as readline from 'node:readline'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

const input = readline.createInterface({ input: process.stdin })
const lines = input[Symbol.asyncIterator]()

/** Prints `message` (one JSON line) and waits for the test's answer line. */
async function ask(message) {
  console.log(JSON.stringify(message))
  const { value, done } = await lines.next()
  if (done) throw new Error('standard input closed before the answer')
  return value.trim()
}

// The test server is plain http on loopback.
const insecure = { [oauth.allowInsecureRequests]: true }

/** How often each step had to be retried with a server nonce (RFC 9449 §8). */
const nonceRetries = {}

/** Runs `step`; once more when the server asks for a (new) DPoP nonce. */
async function withNonce(name, step) {
  try {
    return await step()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    nonceRetries[name] = (nonceRetries[name] ?? 0) + 1
    return await step()
  }
}

/** A token response as reported (tokens included: the test verifies them). */
const tokens = (response) => ({
  token_type: response.token_type,
  access_token: response.access_token,
  refresh_token: response.refresh_token ?? null,
  scope: response.scope ?? null,
})

async function codeFlow(as, DPoP) {
  const client = { client_id: env('PUBLIC_CLIENT_ID') }
  const auth = oauth.None()
  const redirectUri = env('REDIRECT_URI')
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const nonce = oauth.generateRandomNonce()
  const dpopJkt = await DPoP.calculateThumbprint()

  const url = new URL(as.authorization_endpoint)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('client_id', client.client_id)
  url.searchParams.set('redirect_uri', redirectUri)
  url.searchParams.set('scope', env('SCOPE'))
  url.searchParams.set('state', state)
  url.searchParams.set('nonce', nonce)
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier))
  url.searchParams.set('code_challenge_method', 'S256')
  // RFC 9449 §10: the code is bound to this key.
  url.searchParams.set('dpop_jkt', dpopJkt)

  const callback = new URL(await ask({ authorize: url.href }))
  const params = oauth.validateAuthResponse(as, client, callback, state)

  const issued = await withNonce('authorization_code', async () => {
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, auth, params, redirectUri, verifier, { DPoP, ...insecure })
    return oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: nonce,
      requireIdToken: true,
    })
  })
  const sub = oauth.getValidatedIdTokenClaims(issued).sub

  const userinfo = await withNonce('userinfo', async () => {
    const response = await oauth.userInfoRequest(as, client, issued.access_token, {
      DPoP,
      ...insecure,
    })
    return oauth.processUserInfoResponse(as, client, sub, response)
  })

  const refreshed = await withNonce('refresh_token', async () => {
    const response = await oauth.refreshTokenGrantRequest(
      as, client, auth, issued.refresh_token, { DPoP, ...insecure })
    return oauth.processRefreshTokenResponse(as, client, response)
  })

  // The refreshed access token works at UserInfo too.
  const userinfoAfter = await withNonce('userinfo_after_refresh', async () => {
    const response = await oauth.userInfoRequest(as, client, refreshed.access_token, {
      DPoP,
      ...insecure,
    })
    return oauth.processUserInfoResponse(as, client, sub, response)
  })

  return {
    dpop_jkt: dpopJkt,
    issued: tokens(issued),
    sub,
    userinfo_sub: userinfo.sub,
    refreshed: tokens(refreshed),
    userinfo_after_refresh_sub: userinfoAfter.sub,
  }
}

async function clientCredentials(as, DPoP) {
  const client = { client_id: env('MACHINE_CLIENT_ID') }
  const auth = oauth.ClientSecretBasic(env('MACHINE_CLIENT_SECRET'))
  const issued = await withNonce('client_credentials', async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as, client, auth, { scope: 'read:orders', resource: env('RESOURCE') },
      { DPoP, ...insecure })
    return oauth.processClientCredentialsResponse(as, client, response)
  })
  return { jkt: await DPoP.calculateThumbprint(), issued: tokens(issued) }
}

async function deviceGrant(as, DPoP) {
  const client = { client_id: env('PUBLIC_CLIENT_ID') }
  const auth = oauth.None()
  const authorization = await oauth.processDeviceAuthorizationResponse(
    as, client,
    await oauth.deviceAuthorizationRequest(
      as, client, auth, { scope: env('SCOPE') }, insecure))
  await ask({ user_code: authorization.user_code })

  let interval = authorization.interval ?? 5
  const deadline = Date.now() + 60_000
  let polls = 0
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, interval * 1000))
    polls += 1
    try {
      const issued = await withNonce('device_code', async () => {
        const response = await oauth.deviceCodeGrantRequest(
          as, client, auth, authorization.device_code, { DPoP, ...insecure })
        return oauth.processDeviceCodeResponse(as, client, response)
      })
      return { jkt: await DPoP.calculateThumbprint(), polls, issued: tokens(issued) }
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError && err.error === 'authorization_pending') continue
      if (err instanceof oauth.ResponseBodyError && err.error === 'slow_down') {
        interval += 5
        continue
      }
      throw err
    }
  }
  throw new Error('the device code was not approved in time')
}

async function main() {
  const issuer = new URL(env('ISSUER'))
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }))
  // One key per flow: each binding is checked on its own.
  const handle = async () => oauth.DPoP({}, await oauth.generateKeyPair('ES256'))
  const report = {
    ok: true,
    dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported ?? null,
    code: await codeFlow(as, await handle()),
    client_credentials: await clientCredentials(as, await handle()),
    device: await deviceGrant(as, await handle()),
  }
  report.nonce_retries = nonceRetries
  console.log(JSON.stringify(report))
  // Standard input would keep the process alive.
  input.close()
}

main().catch((err) => {
  console.log(JSON.stringify({
    ok: false,
    error: String(err?.stack ?? err),
    code: err?.code ?? null,
    cause: err?.cause ?? null,
    nonce_retries: nonceRetries,
  }))
  input.close()
  process.exitCode = 1
})
