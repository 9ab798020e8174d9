// The official MCP TypeScript SDK client (@modelcontextprotocol/sdk) against an MCP
// server protected by Portcullis (crates/portcullis/tests/it/mcp.rs runs this script):
// connect → 401 → RFC 9728 → RFC 8414 discovery → the client identifies itself →
// authorization code + PKCE with `resource` → token → tools/call.
//
// Environment:
//   MCP_URL        the MCP server's endpoint (its resource identifier)
//   REDIRECT_URI   the client's redirect URI (never served: the test plays the browser)
//   REGISTRATION   how the client identifies itself; one of REGISTRATIONS below
//                  (`metadata-document`, `dynamic-registration`)
//   CLIENT_ID_URL  for `metadata-document`: the https URL of its Client ID Metadata Document
//
// Protocol with the test, one JSON object per line:
//   stdout {"authorize": URL}  the SDK asked the provider to send the user there;
//   stdin  REDIRECT-LOCATION   where the authorization server sent the browser back;
//   stdout {"ok": …, …}        the report (last line).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const MCP_URL = new URL(env('MCP_URL'));
const REDIRECT_URI = env('REDIRECT_URI');

/** The client's metadata (RFC 7591 §2 names), as a registration or a document states it. */
const CLIENT_METADATA = {
  client_name: 'Portcullis MCP end-to-end test',
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

/**
 * How the client identifies itself to an authorization server nobody registered it with:
 * each entry configures the provider before the flow starts.
 */
const REGISTRATIONS = {
  // draft-ietf-oauth-client-id-metadata-document: the client_id is the document's URL; the
  // SDK uses it when the server's metadata says `client_id_metadata_document_supported`.
  'metadata-document': (provider) => {
    provider.clientMetadataUrl = env('CLIENT_ID_URL');
  },
  // RFC 7591: without a metadata document URL the SDK registers CLIENT_METADATA at the
  // server's `registration_endpoint` and keeps the client_id it is given.
  'dynamic-registration': () => {},
};

/** An OAuthClientProvider kept in memory; the user's browser is the test. */
class ScriptedProvider {
  constructor() {
    this.clientMetadataUrl = undefined;
    this.authorizationUrl = undefined;
    this.savedClient = undefined;
    this.savedTokens = undefined;
    this.verifier = undefined;
    this.sentState = undefined;
  }
  get redirectUrl() {
    return REDIRECT_URI;
  }
  get clientMetadata() {
    return CLIENT_METADATA;
  }
  state() {
    this.sentState = randomBytes(16).toString('base64url');
    return this.sentState;
  }
  clientInformation() {
    return this.savedClient;
  }
  saveClientInformation(information) {
    this.savedClient = information;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens) {
    this.savedTokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }
}

/** Every request the SDK makes (method, URL, status, and what an auth-relevant answer said). */
const requests = [];
async function recordingFetch(input, init) {
  const url = typeof input === 'string' ? input : input.url ?? String(input);
  const method = init?.method ?? 'GET';
  const response = await fetch(input, init);
  const entry = { method, url: String(url), status: response.status };
  const challenge = response.headers.get('www-authenticate');
  if (challenge) entry.www_authenticate = challenge;
  if (init?.body instanceof URLSearchParams) {
    entry.form = Object.fromEntries(init.body.entries());
    for (const secret of ['code', 'code_verifier', 'refresh_token']) {
      if (entry.form[secret]) entry.form[secret] = '…';
    }
  }
  requests.push(entry);
  return response;
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
  const { value, done } = await lines.next();
  if (done) throw new Error('the test closed stdin');
  return value.trim();
}

function connectTransport(provider) {
  return new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: recordingFetch });
}

async function main() {
  const registration = process.env.REGISTRATION ?? 'metadata-document';
  const configure = REGISTRATIONS[registration];
  if (!configure) throw new Error(`unknown REGISTRATION ${registration}`);
  const provider = new ScriptedProvider();
  configure(provider);

  // 1. No token: the server answers 401; the SDK discovers and sends the user to /authorize.
  const first = connectTransport(provider);
  let refused;
  try {
    await new Client({ name: 'portcullis-e2e', version: '1.0.0' }).connect(first);
  } catch (error) {
    refused = error;
  }
  if (!(refused instanceof UnauthorizedError)) {
    throw new Error(`expected UnauthorizedError before authorizing, got ${refused}`);
  }
  if (!provider.authorizationUrl) throw new Error('the SDK did not redirect to authorization');
  const authorizationUrl = provider.authorizationUrl.href;

  // 2. The user signs in and approves (the test); the redirect carries the code.
  const back = new URL(await ask({ authorize: authorizationUrl }));
  if (back.searchParams.get('state') !== provider.sentState) throw new Error(`state mismatch: ${back}`);
  const code = back.searchParams.get('code');
  if (!code) throw new Error(`no code in ${back}`);
  await first.finishAuth(code);

  // 3. With the token: initialize, tools/list, tools/call.
  const client = new Client({ name: 'portcullis-e2e', version: '1.0.0' });
  await client.connect(connectTransport(provider));
  const tools = await client.listTools();
  const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
  await client.close();

  return {
    ok: true,
    registration,
    client_id: provider.savedClient?.client_id,
    authorization_url: authorizationUrl,
    iss: back.searchParams.get('iss'),
    tokens: provider.savedTokens,
    tools: tools.tools.map((tool) => tool.name),
    result,
    requests,
  };
}

let report;
try {
  report = await main();
} catch (error) {
  report = { ok: false, error: String(error?.stack ?? error), requests };
}
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(report.ok ? 0 : 1);
