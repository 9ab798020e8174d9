// Dynamic client registration (RFC 7591) and management (RFC 7592) through an
// independent client: panva's oauth4webapi discovers the server, registers a public
// client the way MCP clients do (redirect_uris, token_endpoint_auth_method "none",
// grant_types authorization_code + refresh_token, response_types code, client_name),
// then runs the code flow with PKCE and a `resource`; the management requests are plain
// fetch (oauth4webapi has no RFC 7592 helpers). crates/portcullis/tests/it/registration
// runs this script and plays the person:
//
//   this script prints  {"authorize": URL}      the test signs in and consents, then
//   and reads           the callback URL        (one line on standard input).
//
// The last line on standard output is the report (JSON). Any failure: {"ok": false, …}.
//
// Environment: ISSUER, REDIRECT_URI, RESOURCE.

import * as oauth from 'oauth4webapi'
import * as readline from 'node:readline'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

const input = readline.createInterface({ input: process.stdin })
const lines = input[Symbol.asyncIterator]()

async function ask(message) {
  console.log(JSON.stringify(message))
  const { value, done } = await lines.next()
  if (done) throw new Error('standard input closed before the answer')
  return value.trim()
}

const insecure = { [oauth.allowInsecureRequests]: true }

async function main() {
  const issuer = new URL(env('ISSUER'))
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  const redirectUri = env('REDIRECT_URI')
  const registered = await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(as, {
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_name: 'oauth4webapi agent',
    }, insecure))
  const client = { client_id: registered.client_id }

  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const url = new URL(as.authorization_endpoint)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('client_id', client.client_id)
  url.searchParams.set('redirect_uri', redirectUri)
  url.searchParams.set('state', state)
  url.searchParams.set('resource', env('RESOURCE'))
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier))
  url.searchParams.set('code_challenge_method', 'S256')
  const callback = new URL(await ask({ authorize: url.href }))
  const params = oauth.validateAuthResponse(as, client, callback, state)
  const issued = await oauth.processAuthorizationCodeResponse(
    as, client,
    await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(), params, redirectUri, verifier,
      { additionalParameters: { resource: env('RESOURCE') }, ...insecure }))

  // RFC 7592 §2.1: read with the registration access token.
  const auth = { authorization: `Bearer ${registered.registration_access_token}` }
  const read = await fetch(registered.registration_client_uri, { headers: auth })
  const readBody = await read.json()
  // RFC 7592 §2.3: delete.
  const deleted = await fetch(registered.registration_client_uri, { method: 'DELETE', headers: auth })

  console.log(JSON.stringify({
    ok: true,
    registration_endpoint: as.registration_endpoint,
    registered,
    access_token: issued.access_token,
    scope: issued.scope ?? null,
    refresh_token: issued.refresh_token ?? null,
    read_status: read.status,
    read_client_id: readBody.client_id,
    delete_status: deleted.status,
  }))
  input.close()
}

main().catch((err) => {
  console.log(JSON.stringify({ ok: false, error: String(err?.stack ?? err), cause: err?.cause ?? null }))
  input.close()
  process.exitCode = 1
})
